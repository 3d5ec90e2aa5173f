// Boost.URL's sources, compiled once into gt_transport: Debian 12 ships the Boost 1.81
// headers of Boost.URL but no library to link.
#include <boost/url/src.hpp>
