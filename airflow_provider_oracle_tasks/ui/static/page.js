// oracle-tasks live pages: one batch, a DAG's / taskspace's instances, one chain job.
// Vanilla JS, no dependencies: everything this page loads ships in the provider's wheel.
// Data is put in the page with textContent / SVG attributes only (never innerHTML).
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const route = location.pathname.match(/^(.*)\/dags\/([^/]+)\/(instances|taskspaces|chains)(?:\/([^/]+))?\/?$/);
  const content = document.getElementById("content");
  const banner = document.getElementById("banner");
  const footer = document.getElementById("footer");
  let timer = null;
  let view = null;

  // --- helpers ------------------------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key === "style") node.style.cssText = value; // CSSOM: allowed under the page's CSP
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined || !isFinite(seconds)) return "–";
    const total = Math.max(Math.round(seconds), 0);
    if (total < 120) return total + " s";
    const minutes = Math.floor(total / 60);
    if (minutes < 120) return minutes + " min " + String(total % 60).padStart(2, "0") + " s";
    return Math.floor(minutes / 60) + " h " + String(minutes % 60).padStart(2, "0") + " min";
  }

  function clock(iso) {
    if (!iso) return "–";
    const date = new Date(iso);
    return date.toISOString().slice(11, 19);
  }

  function badge(state) {
    return el("span", { class: "badge state-" + String(state || "").toLowerCase().replace(/[^a-z_]/g, "_"), text: state });
  }

  function table(headers, rows) {
    const head = el("tr", {}, ...headers.map((h) => el("th", { text: h })));
    const body = rows.map((cells) => el("tr", {}, ...cells.map((c) => el("td", {}, c))));
    return el("table", {}, el("thead", {}, head), el("tbody", {}, ...body));
  }

  function section(title, ...children) {
    return el("section", { class: "card" }, el("h2", { text: title }), ...children);
  }

  function apiUrl(suffix, extra) {
    const key = route[4] ? "/" + route[4] : "";
    const query = new URLSearchParams(location.search);
    for (const [name, value] of Object.entries(extra || {})) query.set(name, value);
    const search = query.toString();
    return route[1] + "/api/dags/" + route[2] + "/" + route[3] + key + (suffix || "") + (search ? "?" + search : "");
  }

  async function request(url, options) {
    const response = await fetch(url, Object.assign({ credentials: "same-origin", cache: "no-store" }, options));
    let body = null;
    try {
      body = await response.json();
    } catch (error) {
      body = { detail: response.statusText };
    }
    if (!response.ok) {
      const detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
      const error = new Error(detail);
      error.status = response.status;
      error.code = body.code;
      throw error;
    }
    return body;
  }

  function showError(error, where) {
    const code = error.code ? error.code + ": " : "";
    const status = error.status ? " (HTTP " + error.status + ")" : "";
    banner.hidden = false;
    banner.className = "banner error";
    banner.textContent = (where ? where + " failed" + status + ": " : "") + code + error.message;
    if (error.status === 401) banner.textContent += " Log in to Airflow, then reload this page.";
  }

  function clearBanner() {
    banner.hidden = true;
    banner.textContent = "";
  }

  function schedule(seconds, poll) {
    clearTimeout(timer);
    timer = setTimeout(poll, Math.max(0.5, seconds || 2.5) * 1000);
  }

  function setHeader(title, state) {
    document.getElementById("title").textContent = title;
    document.title = title + " · oracle-tasks";
    const node = document.getElementById("state");
    node.textContent = state || "";
    node.className = "badge state-" + String(state || "").toLowerCase();
  }

  function stamp(data, finished, what) {
    const now = new Date().toISOString().slice(11, 19);
    footer.textContent = finished
      ? "updated " + now + " UTC · " + what + " has ended: updates stopped"
      : "updated " + now + " UTC · live, every " + (data.poll_seconds || 2.5) + " s";
    footer.dataset.finished = finished ? "yes" : "no";
  }

  // --- the batch page -----------------------------------------------------------------------

  const STATES = ["SUCCEEDED", "FAILED", "STOPPED", "SKIPPED", "RUNNING", "READY", "WAITING"];

  function progressBar(data) {
    const bar = el("div", { class: "progress", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": data.total, "aria-valuenow": data.done, id: "progress" });
    for (const state of STATES) {
      const count = data.counts[state] || 0;
      if (!count || !data.total) continue;
      bar.append(el("div", { class: "segment state-" + state.toLowerCase(), style: "width:" + (100 * count / data.total) + "%", title: state + ": " + count }));
    }
    const percent = data.total ? Math.floor((100 * data.done) / data.total) : 0;
    return el("div", {}, bar, el("div", { class: "progress-label", id: "progress-label", text: data.done + " / " + data.total + " done (" + percent + " %)" }));
  }

  function stat(label, value, id, hint) {
    return el("div", { class: "stat", title: hint || "" }, el("div", { class: "stat-value", id: id, text: value }), el("div", { class: "stat-label", text: label }));
  }

  // The controls are built once and updated in place: a poll never replaces a button under the
  // user's pointer, and a thread count being typed is kept until it is applied.
  function buildControls(editable) {
    const box = el("div", { class: "controls", id: "controls", "data-editable": editable ? "yes" : "no" });
    if (!editable) {
      box.append(el("p", { class: "muted", text: "Read-only: you may watch this DAG but not regulate it (Airflow's auth manager lets only users who may edit the DAG's task instances change threads, stop or retry)." }));
      return box;
    }
    const input = el("input", { id: "threads-input", type: "number", min: 0, max: 1000, step: 1, "aria-label": "target threads" });
    input.addEventListener("input", () => { input.dataset.dirty = "yes"; });
    const act = async (what, suffix, body, confirmText) => {
      if (confirmText && !window.confirm(confirmText)) return;
      try {
        await request(apiUrl(suffix), { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
        banner.hidden = false;
        banner.className = "banner ok";
        banner.textContent = what + " applied.";
        if (suffix === "/threads") delete input.dataset.dirty;
        poll();
      } catch (error) {
        showError(error, what);
      }
    };
    box.append(
      el("label", { for: "threads-input", text: "Threads " }),
      input,
      el("button", { id: "threads-apply", onclick: () => act("Threads " + input.value, "/threads", { threads: input.value === "" ? null : Number(input.value) }) }, "Apply"),
      el("span", { class: "muted", text: " 0 pauses " }),
      el("button", { id: "soft-stop", onclick: () => act("Soft stop", "/stop", { mode: "SOFT" }) }, "Soft stop"),
      el("button", { id: "hard-stop", class: "danger", onclick: () => act("Hard stop", "/stop", { mode: "HARD" }, "Hard stop: the running tasks are stopped now (marked STOPPED) and the rest are skipped. Continue?") }, "Hard stop"),
      el("button", { id: "retry-failed", onclick: () => act("Retry failed", "/retry", {}) }, "Retry failed")
    );
    return box;
  }

  function updateControls(slot, data) {
    let box = document.getElementById("controls");
    if (!box || box.dataset.editable !== (data.can_edit ? "yes" : "no")) {
      box = buildControls(data.can_edit);
      slot.replaceChildren(box);
    }
    if (!data.can_edit) return;
    const input = document.getElementById("threads-input");
    if (!input.dataset.dirty && document.activeElement !== input) input.value = data.target_threads;
    for (const id of ["threads-apply", "soft-stop", "hard-stop"]) document.getElementById(id).disabled = data.finished;
    document.getElementById("retry-failed").disabled = !(data.counts.FAILED || data.counts.SKIPPED || data.counts.STOPPED) || data.state === "SUCCEEDED";
  }

  function errorList(errors) {
    if (!errors.length) return el("p", { class: "muted", text: "No errors." });
    const open = new Set([...document.querySelectorAll(".error-item[open]")].map((node) => node.dataset.task));
    return el("div", { class: "errors" }, ...errors.map((e) => el("details", { class: "error-item", "data-task": e.task_id, open: open.has(String(e.task_id)) },
      el("summary", {},
        el("b", { text: (e.ora_code || "code " + e.error_code) + " " }),
        (e.name || "task " + e.task_id) + " (task " + e.task_id + ", group " + e.group + ", attempt " + e.attempts + "/" + e.max_attempts + ", " + e.state + (e.state === "READY" ? ": retry pending" : "") + ")"),
      el("pre", { text: e.message || "" }),
      e.backtrace ? el("pre", { class: "backtrace", text: e.backtrace }) : null)));
  }

  function gantt(timeline, data) {
    const tasks = timeline.tasks;
    if (!tasks.length) return el("p", { class: "muted", text: "No task has started yet." });
    const now = Date.now();
    const start = (t) => Date.parse(t.started_at);
    const end = (t) => (t.ended_at ? Date.parse(t.ended_at) : now);
    const t0 = Math.min(...tasks.map(start));
    const t1 = Math.max(...tasks.map(end), t0 + 1000);
    const workers = [...new Set(tasks.map((t) => t.worker || "?"))].sort();
    const left = 150, right = 20, top = 24, rowHeight = 22, width = 1000;
    const height = top + workers.length * rowHeight + 24;
    const x = (ms) => left + ((ms - t0) / (t1 - t0)) * (width - left - right);
    const chart = svg("svg", { viewBox: "0 0 " + width + " " + height, class: "gantt", id: "gantt", role: "img", "aria-label": "tasks per worker over time" });
    const defs = svg("defs");
    const pattern = svg("pattern", { id: "retry", width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" });
    pattern.append(svg("rect", { width: 3, height: 6, fill: "rgba(0,0,0,0.35)" }));
    defs.append(pattern);
    chart.append(defs);
    workers.forEach((worker, i) => {
      const y = top + i * rowHeight;
      chart.append(svg("rect", { x: 0, y: y, width: width, height: rowHeight, class: i % 2 ? "row odd" : "row" }));
      chart.append(svg("text", { x: 4, y: y + 15, class: "axis" }, worker));
    });
    for (let i = 1; i < 5; i++) {
      const gx = x(t0 + ((t1 - t0) * i) / 5);
      chart.append(svg("line", { x1: gx, x2: gx, y1: top, y2: height - 20, class: "tick" }));
    }
    // Groups are barriers: a line where each group's first task started.
    const groups = new Map();
    for (const t of tasks) {
      if (t.group === null) continue;
      const s = start(t);
      if (!groups.has(t.group) || s < groups.get(t.group)) groups.set(t.group, s);
    }
    for (const [group, s] of [...groups.entries()].sort((a, b) => a[0] - b[0])) {
      chart.append(svg("line", { x1: x(s), x2: x(s), y1: top - 6, y2: height - 20, class: "barrier" }));
      chart.append(svg("text", { x: x(s) + 3, y: top - 10, class: "axis" }, "group " + group));
    }
    for (const t of tasks) {
      const row = workers.indexOf(t.worker || "?");
      const y = top + row * rowHeight + 3;
      const bx = x(start(t));
      const bw = Math.max(x(end(t)) - bx, 1.5);
      const bar = svg("rect", { x: bx, y: y, width: bw, height: rowHeight - 6, class: "bar state-" + t.state.toLowerCase() });
      bar.append(svg("title", {}, (t.name || "task " + t.task_id) + " · " + t.state + " · group " + t.group + " · attempt " + t.attempts + "/" + t.max_attempts + (t.error_code ? " · error " + t.error_code : "")));
      chart.append(bar);
      if (t.attempts > 1) {
        chart.append(svg("rect", { x: bx, y: y, width: bw, height: rowHeight - 6, fill: "url(#retry)", class: "retried" }));
      }
    }
    for (let i = 0; i <= 5; i++) {
      const ms = t0 + ((t1 - t0) * i) / 5;
      const anchor = i === 0 ? "start" : i === 5 ? "end" : "middle";
      chart.append(svg("text", { x: x(ms), y: height - 6, class: "axis", "text-anchor": anchor }, clock(new Date(ms).toISOString()) + (i === 5 ? " UTC" : "")));
    }
    const legend = el("p", { class: "legend" },
      ...["SUCCEEDED", "FAILED", "RUNNING", "STOPPED"].map((s) => el("span", { class: "key state-" + s.toLowerCase(), text: s })),
      el("span", { class: "key retried-key", text: "retried (attempt > 1)" }),
      el("span", { class: "muted", text: " dashed line: a group opens (groups are barriers)" + (timeline.truncated ? " · showing the newest " + timeline.limit + " tasks" : "") }));
    return el("div", {}, chart, legend);
  }

  function renderBatch(data, timeline) {
    setHeader("instance " + data.instance_id + " · " + (data.instance.dag_id || ""), data.state);
    const inst = data.instance;
    const stats = el("div", { class: "stats" },
      stat("done", data.done + " / " + data.total, "stat-done", "tasks SUCCEEDED, FAILED, SKIPPED or STOPPED"),
      stat("tasks/s", (data.tasks_per_second || 0).toFixed(2), "stat-rate", "finished tasks per second since the start"),
      stat("ETA", data.finished ? "ended" : duration(data.eta_seconds), "stat-eta", "remaining tasks / current rate"),
      stat("elapsed", duration(data.elapsed_seconds), "stat-elapsed"),
      stat("target threads", String(data.target_threads) + (inst.paused ? " (paused)" : ""), "stat-target", "workers wanted now; 0 pauses"),
      stat("live workers", String(data.live_workers) + (inst.starting_workers ? " (" + inst.starting_workers + " starting)" : ""), "stat-live", "scheduler jobs starting or running"),
      stat("group", inst.current_group === null ? "–" : String(inst.current_group), "stat-group", "the open group; later groups wait"));
    const counts = el("div", { class: "counts" }, ...STATES.map((s) => el("span", { class: "chip state-" + s.toLowerCase(), id: "count-" + s.toLowerCase(), text: s + " " + (data.counts[s] || 0) })));
    const running = data.running.length
      ? table(["task", "name", "group", "worker", "elapsed", "attempt"], data.running.map((t) => [String(t.task_id), t.name || "", String(t.group), t.worker || "", duration(t.elapsed_seconds), t.attempts + "/" + t.max_attempts]))
      : el("p", { class: "muted", text: "Nothing running." });
    const workers = data.workers.length
      ? table(["job", "state", "started", "ended", "task", "exit"], data.workers.map((w) => [w.job_name, badge(w.state), clock(w.started_at), clock(w.ended_at), w.running_task_id === null ? "" : String(w.running_task_id), w.exit_reason || ""]))
      : el("p", { class: "muted", text: "No workers yet." });
    const meta = el("p", { class: "muted" }, "taskspace " + (data.taskspace || "") + " · run key " + (data.run_key || "–") + " · stop on error " + (inst.stop_on_error ? "Y" : "N") + (inst.stop_mode ? " · stop " + inst.stop_mode : ""));
    if (!document.getElementById("summary")) {
      content.replaceChildren(
        el("section", { class: "card" }, el("div", { id: "summary" }), el("div", { id: "controls-slot" })),
        section("Timeline: tasks per worker", el("div", { id: "timeline-slot" })),
        section("Running tasks", el("div", { id: "running-slot" })),
        section("Errors (latest first)", el("div", { id: "errors-slot" })),
        section("Workers", el("div", { id: "workers-slot" })));
    }
    document.getElementById("summary").replaceChildren(meta, progressBar(data), stats, counts);
    updateControls(document.getElementById("controls-slot"), data);
    document.getElementById("timeline-slot").replaceChildren(gantt(timeline, data));
    document.getElementById("running-slot").replaceChildren(running);
    document.getElementById("errors-slot").replaceChildren(errorList(data.errors));
    document.getElementById("workers-slot").replaceChildren(workers);
  }

  async function pollBatch() {
    try {
      const data = await request(apiUrl("", { timeline: "true" })); // one session per poll
      const timeline = data.timeline;
      if (banner.classList.contains("error")) clearBanner();
      renderBatch(data, timeline);
      stamp(data, data.finished, "the instance");
      if (!data.finished) schedule(data.poll_seconds, poll);
    } catch (error) {
      showError(error, "Reading the instance");
      if (error.status !== 401 && error.status !== 403 && error.status !== 404 && error.status !== 400) schedule(5, poll);
    }
  }

  // --- instance lists ---------------------------------------------------------------------------

  async function pollList() {
    try {
      const data = await request(apiUrl());
      if (banner.classList.contains("error")) clearBanner();
      setHeader(data.taskspace ? "taskspace " + data.taskspace + " · " + data.dag_id : "batches of " + data.dag_id, "");
      const rows = data.instances.map((i) => {
        const link = el("a", { href: route[1] + "/dags/" + route[2] + "/instances/" + i.instance_id + location.search, text: String(i.instance_id) });
        const pct = i.total ? Math.floor((100 * i.done) / i.total) : 0;
        const mini = el("div", { class: "progress mini" }, el("div", { class: "segment state-succeeded", style: "width:" + pct + "%" }));
        return [link, badge(i.state), i.taskspace || "", mini, i.done + "/" + i.total, String(i.counts.FAILED), i.target_threads + " / " + i.live_workers, clock(i.created_at), duration(i.elapsed_seconds), i.run_key || ""];
      });
      content.replaceChildren(section("Instances (newest first)", rows.length
        ? table(["id", "state", "taskspace", "progress", "done", "failed", "threads / live", "created", "elapsed", "run key"], rows)
        : el("p", { class: "muted", text: "No instance of this DAG yet (connection " + (new URLSearchParams(location.search).get("conn_id") || "oracle_default") + ")." })));
      const live = data.instances.some((i) => !i.finished);
      stamp(data, false, "");
      schedule(live ? data.poll_seconds : 10, poll);
    } catch (error) {
      showError(error, "Reading the instances");
    }
  }

  // --- the chain page ----------------------------------------------------------------------------

  function layers(data) {
    const names = data.steps.map((s) => s.step);
    const level = new Map([["(start)", 0]]);
    for (let pass = 0; pass < names.length + 2; pass++) {
      for (const e of data.edges) {
        if (e.kind === "stop" || !level.has(e.from)) continue;
        const next = level.get(e.from) + 1;
        if (!level.has(e.to) || (level.get(e.to) < next && next <= names.length + 1)) level.set(e.to, next);
      }
    }
    for (const name of names) if (!level.has(name)) level.set(name, 1);
    if (data.edges.some((e) => e.to === "(end)") && !level.has("(end)")) level.set("(end)", names.length + 1);
    return level;
  }

  function chainGraph(data) {
    const level = layers(data);
    const byStep = new Map(data.steps.map((s) => [s.step, s]));
    const columns = new Map();
    for (const [name, lv] of level) {
      if (name !== "(start)" && name !== "(end)" && !byStep.has(name)) continue;
      if (!columns.has(lv)) columns.set(lv, []);
      columns.get(lv).push(name);
    }
    const nodeW = 170, nodeH = 62, gapX = 60, gapY = 24;
    const order = [...columns.keys()].sort((a, b) => a - b);
    const tallest = Math.max(...[...columns.values()].map((c) => c.length));
    const width = order.length * (nodeW + gapX) + 20;
    const height = tallest * (nodeH + gapY) + 30;
    const pos = new Map();
    order.forEach((lv, ci) => {
      const col = columns.get(lv).sort();
      col.forEach((name, ri) => pos.set(name, { x: 10 + ci * (nodeW + gapX), y: 20 + ri * (nodeH + gapY) + ((tallest - col.length) * (nodeH + gapY)) / 2 }));
    });
    const chart = svg("svg", { viewBox: "0 0 " + width + " " + height, class: "chain", id: "chain-graph", role: "img", "aria-label": "chain steps and rules" });
    const defs = svg("defs");
    const marker = svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
    marker.append(svg("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrow" }));
    defs.append(marker);
    chart.append(defs);
    for (const e of data.edges) {
      const a = pos.get(e.from), b = pos.get(e.to);
      if (!a || !b) continue;
      const x1 = a.x + nodeW, y1 = a.y + nodeH / 2, x2 = b.x, y2 = b.y + nodeH / 2;
      const mid = (x1 + x2) / 2;
      const path = svg("path", { d: "M " + x1 + " " + y1 + " C " + mid + " " + y1 + ", " + mid + " " + y2 + ", " + x2 + " " + y2, class: "edge edge-" + e.kind + (e.negated ? " negated" : ""), "marker-end": "url(#arrow)" });
      path.append(svg("title", {}, e.rule + ": " + e.condition + " → " + e.kind.toUpperCase() + " " + e.to));
      chart.append(path);
    }
    for (const [name, p] of pos) {
      const step = byStep.get(name);
      const state = step ? step.state : "";
      const stalled = data.stalled && step && !["SUCCEEDED", "FAILED", "STOPPED"].includes(state);
      const g = svg("g", { class: "node state-" + String(state).toLowerCase().replace(/[^a-z_]/g, "_") + (stalled ? " stalled" : ""), "data-step": name });
      g.append(svg("rect", { x: p.x, y: p.y, width: nodeW, height: nodeH, rx: 6 }));
      g.append(svg("text", { x: p.x + 8, y: p.y + 17, class: "node-name" }, name));
      if (step) {
        g.append(svg("text", { x: p.x + 8, y: p.y + 34, class: "node-state" }, state + (step.error_code ? " · " + (step.ora_code || step.error_code) : "")));
        g.append(svg("text", { x: p.x + 8, y: p.y + 51, class: "node-time" }, clock(step.started_at) + " → " + clock(step.ended_at) + (step.duration_seconds !== null && step.duration_seconds !== undefined ? " (" + duration(step.duration_seconds) + ")" : "")));
        if (step.message) g.append(svg("title", {}, step.message));
      }
      chart.append(g);
    }
    return chart;
  }

  async function pollChain() {
    try {
      const data = await request(apiUrl());
      if (banner.classList.contains("error")) clearBanner();
      setHeader("chain job " + data.job_name + (data.chain_name ? " · " + data.chain_name : ""), data.state);
      const head = el("p", {}, data.message ? data.message : "", data.error_code ? " · error " + data.error_code : "", " · started " + clock(data.started_at) + " · ended " + clock(data.ended_at));
      const stall = data.stalled ? el("p", { class: "banner error", id: "stalled", text: "STALLED: no step is running and no rule can fire. Repair it with DBMS_SCHEDULER.ALTER_RUNNING_CHAIN or stop the job." }) : null;
      const graph = data.chain_exists ? chainGraph(data) : el("p", { class: "muted", text: "The chain " + (data.chain_name || "") + " is not in this schema (dropped, or unknown): steps only." });
      const steps = table(["step", "state", "error", "started", "ended", "duration", "message"], data.steps.map((s) => [s.step, badge(s.state), s.error_code ? (s.ora_code || String(s.error_code)) : "", clock(s.started_at), clock(s.ended_at), duration(s.duration_seconds), s.message || ""]));
      content.replaceChildren(el("section", { class: "card" }, head, stall), section("Steps and rules", graph, el("p", { class: "legend muted", text: "arrows: rules (solid START, dashed STOP, to (end) END); hover for the rule's condition" })), section("Steps", steps));
      stamp(data, data.finished, "the chain job");
      if (!data.finished) schedule(data.poll_seconds, poll);
    } catch (error) {
      showError(error, "Reading the chain job");
      if (error.status >= 500) schedule(5, poll);
    }
  }

  function poll() {
    return view();
  }

  if (!route) {
    setHeader("unknown page", "");
    content.textContent = "Open this page from a task's extra link.";
    return;
  }
  view = route[3] === "chains" ? pollChain : route[3] === "instances" && route[4] ? pollBatch : pollList;
  poll();
})();
