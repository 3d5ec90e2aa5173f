// The decisions page: recent decisions pushed over SSE (read back from the audit log, each
// with its signature checked), filters, readiness and the tools each server exposes.
// Offline: no CDN, nothing but this page's own endpoints.
"use strict";
(function () {
  const base = location.pathname.replace(/\/+$/, "");
  const maxRows = 500;
  const decisions = [];  // newest last
  const $ = (id) => document.getElementById(id);
  const filters = ["decision", "tool", "server", "agent", "tenant"];

  function outcome(d) {
    return d.decision === "allow" && d.would_deny ? "would_deny" : d.decision;
  }

  function matches(d) {
    const want = $("filter-decision").value;
    if (want && outcome(d) !== want) return false;
    for (const f of ["tool", "server", "agent", "tenant"]) {
      const v = $("filter-" + f).value.trim().toLowerCase();
      if (v && !String(d[f] || "").toLowerCase().includes(v)) return false;
    }
    return true;
  }

  function cell(tr, text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }

  function row(d) {
    const tr = document.createElement("tr");
    tr.dataset.decision = outcome(d);
    tr.dataset.tool = d.tool;
    tr.dataset.receipt = d.receipt_id;
    cell(tr, (d.ts || "").replace("T", " ").replace(/\.\d+Z$/, "Z"));
    cell(tr, d.tenant);
    cell(tr, d.agent);
    cell(tr, d.server);
    cell(tr, d.method && d.method !== "tools/call" ? d.method + " " + d.tool : d.tool, "tool");
    cell(tr, outcome(d), "decision");
    cell(tr, d.code);
    cell(tr, [d.policy_id, d.rule_id].filter(Boolean).join(" / "));
    cell(tr, d.reason, "reason");
    const td = cell(tr, "", "receipt");
    const code = document.createElement("code");
    code.textContent = d.receipt_id;
    td.appendChild(code);
    const sig = document.createElement("span");
    // "seal signed" and "not linked": signed, but the page could not tie this line to it.
    const kind = d.signature === "verified" ? "verified" : d.signature === "invalid" ? "invalid"
      : d.signature === "seal signed" || d.signature === "not linked" ? "partial" : "unknown";
    sig.className = "sig sig-" + kind;
    sig.textContent = " " + (kind === "verified" ? "\u2713 signature verified" : d.signature);
    td.appendChild(sig);
    return tr;
  }

  function render() {
    const body = document.querySelector("#decisions tbody");
    const rows = [];
    for (let i = decisions.length - 1; i >= 0; i--) {
      if (matches(decisions[i])) rows.push(row(decisions[i]));
    }
    body.replaceChildren(...rows);
    $("count").textContent = rows.length + " of " + decisions.length + " shown";
  }

  function add(d) {
    decisions.push(d);
    if (decisions.length > maxRows) decisions.shift();
  }

  function connect() {
    const es = new EventSource(base + "/api/events");
    es.onopen = () => {
      $("conn").dataset.state = "live";
      $("conn").textContent = "live";
    };
    es.onmessage = (ev) => {
      let m;
      try { m = JSON.parse(ev.data); } catch (e) { return; }
      if (m.type === "decision") {
        add(m.decision);
        render();
      } else if (m.type === "reset") {
        decisions.length = 0;
        render();
      }
    };
    es.onerror = () => {
      $("conn").dataset.state = "disconnected";
      $("conn").textContent = "disconnected (retrying)";
    };
  }

  function showStatus(s) {
    $("ready").dataset.ready = s.ready ? "ready" : "not ready";
    $("ready").textContent = s.ready ? "ready" : "not ready";
    const checks = $("checks");
    checks.replaceChildren(...s.checks.map((c) => {
      const li = document.createElement("li");
      li.className = c.ok ? "ok" : "fail";
      li.dataset.check = c.name;
      li.textContent = (c.ok ? "ok: " : "FAIL: ") + c.name + ": " + c.detail;
      return li;
    }));
    const tools = $("tools");
    const parts = [];
    for (const server of Object.keys(s.servers).sort()) {
      const h = document.createElement("h3");
      h.textContent = server;
      const t = document.createElement("table");
      t.dataset.server = server;
      for (const [name, how] of s.servers[server]) {
        const tr = document.createElement("tr");
        tr.dataset.tool = name;
        cell(tr, name);
        cell(tr, how, "governed");
        t.appendChild(tr);
      }
      if (!s.servers[server].length) {
        const tr = document.createElement("tr");
        cell(tr, "not listed yet (a client has not asked this server for its tools)");
        t.appendChild(tr);
      }
      parts.push(h, t);
    }
    tools.replaceChildren(...parts);
  }

  async function status() {
    try {
      const r = await fetch(base + "/api/status", { cache: "no-store" });
      showStatus(await r.json());
    } catch (e) {
      $("ready").dataset.ready = "unknown";
      $("ready").textContent = "status unavailable";
    }
  }

  for (const f of filters) {
    $("filter-" + f).addEventListener("input", render);
    $("filter-" + f).addEventListener("change", render);
  }
  connect();
  status();
  setInterval(status, 5000);
})();
