// Prints CEL's conformance cases (the simple tests of cel-spec, as shipped by the npm package
// @bufbuild/cel-spec, pinned in tests/package.json) as one JSON document for cel_conformance:
//   {"package": "@bufbuild/cel-spec@<version>", "cel_spec": "<upstream tag>",
//    "cases": [{"file", "section", "name", "test": <cel.expr.conformance.test.SimpleTest as JSON>}]}
// The package's data module is plain data (no protobuf runtime needed); nothing is fetched.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

const require = createRequire(import.meta.url);
const { tests } = await import("@bufbuild/cel-spec/testdata/conformance.js");
// The package does not export its package.json; it sits above the data module.
const dataPath = require.resolve("@bufbuild/cel-spec/testdata/conformance.js");
const pkgJson = dataPath.replace(/\/dist\/(esm|cjs)\/testdata\/conformance\.js$/, "/package.json");
const pkg = JSON.parse(readFileSync(pkgJson, "utf8"));

const cases = [];
for (const file of tests.suites ?? []) {
  for (const section of file.suites ?? []) {
    for (const t of section.tests ?? []) {
      cases.push({ file: file.name, section: section.name, name: t.original.name, test: t.original });
    }
  }
  for (const t of file.tests ?? []) {
    cases.push({ file: file.name, section: "", name: t.original.name, test: t.original });
  }
}
process.stdout.write(
  JSON.stringify({
    package: `${pkg.name}@${pkg.version}`,
    cel_spec: pkg.upstreamCelSpecRef ?? "",
    cases,
  }),
);
