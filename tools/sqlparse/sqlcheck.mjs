// The semantic check of sql/ (and of the SQL the Python side sends), without a database.
//
// stdin:  a JSON array of statements {file, line, text, kind?} in execution order (the install's
//         order: what the project's SQL*Plus parser sends, see tests/sqlcheck.py).
// stdout: one JSON object {problems, findings, summary}: `problems` are the grammar parse's (as
//         check.mjs prints them), `findings` the semantic ones {file, line, column, code, message},
//         `summary` {statements, references, findings, parse_stages, seconds}.
// Each statement is parsed ONCE (in worker threads, one per core, at most 4); the syntax checks
// and the extraction of facts (facts.mjs) run on that tree; the facts are then resolved in order
// against the catalog built so far (semantic.mjs) plus catalog/oracle-19c.json.
// See docs/development/sqlcheck.md.

import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { extract } from './facts.mjs';
import { check, collectDdlParameters, ddlPositions, lex, parseStats } from './lib.mjs';
import { Checker } from './semantic.mjs';

const CATALOG = new URL('./catalog/oracle-19c.json', import.meta.url);

// "name MODE TYPE [DEFAULT value]" (MODE optional for functions) -> {name, mode, type, hasDefault}
export function parameter(text) {
  const m = /^(\w+)\s+(IN\s+OUT|IN|OUT)?\s*(.*?)(\s+DEFAULT\s+(.+))?$/i.exec(text.trim());
  if (!m) throw new Error(`catalog: cannot read parameter ${text}`);
  return { name: m[1].toUpperCase(), mode: (m[2] ?? 'IN').toUpperCase().replace(/\s+/, ' '), type: m[3].toUpperCase(), hasDefault: m[4] !== undefined };
}

function members(entry) {
  const out = [];
  for (const kind of ['procedures', 'functions']) {
    for (const [name, overloads] of Object.entries(entry[kind] ?? {})) {
      for (const params of overloads) out.push({ name, kind: kind.slice(0, -1), params: params.map(parameter) });
    }
  }
  for (const name of entry.constants ?? []) out.push({ name, kind: 'constant' });
  for (const name of entry.exceptions ?? []) out.push({ name, kind: 'exception' });
  for (const [name, fields] of Object.entries(entry.types ?? {})) out.push({ name, kind: 'type', fields });
  return out;
}

export function loadCatalog() {
  const raw = JSON.parse(readFileSync(CATALOG, 'utf8'));
  const packages = {};
  for (const [name, entry] of Object.entries(raw.packages)) packages[name] = { reference: entry.reference, members: members(entry) };
  const types = {};
  for (const [name, entry] of Object.entries(raw.types)) types[name] = { reference: entry.reference, members: members(entry) };
  return { packages, types, views: raw.views };
}

// Moves every position in facts (nested members and subprograms too) by `by(line, column)`.
function moved(value, by) {
  if (Array.isArray(value)) return value.map((v) => moved(v, by));
  if (value === null || typeof value !== 'object') return value;
  const out = {};
  for (const [k, v] of Object.entries(value)) out[k] = moved(v, by);
  if (Number.isInteger(value.line) && Number.isInteger(value.column)) Object.assign(out, by(value.line, value.column));
  return out;
}

// Part of the cache key with lib.mjs and facts.mjs: bump it when analyse() changes what it returns.
const ANALYSIS_VERSION = 'analyse-1';

function analyse(statement) {
  const before = parseStats[3];
  const facts = [];
  const problems = check(statement.text, statement.kind, (tree, visible, line, column, dynamic) => {
    const f = extract(tree, dynamic);
    const shift = (l, c) => ({ line: statement.line + line + l - 2, column: l === 1 ? column + c : c });
    facts.push({ dynamic, ...moved(f, shift) });
  }).map((p) => ({ file: statement.file, line: statement.line + p.line - 1, column: p.column + 1, message: p.message }));
  return { problems, facts, fullLL: parseStats[3] > before };
}

// Results per statement, keyed by everything they depend on (the text, how it was sent, the
// p_ddl parameters known, this tool and its grammar): a second run parses only what changed.
// SQLCHECK_CACHE=off disables it; SQLCHECK_CACHE=<dir> moves it (default: the OS temp dir).
function openCache(ddl) {
  const setting = process.env.SQLCHECK_CACHE ?? '';
  if (setting === 'off') return { get: () => null, put: () => {} };
  const dir = setting || join(tmpdir(), `oracle-tasks-sqlcheck-${userInfo().uid}`);
  const tool = createHash('sha256');
  for (const name of ['lib.mjs', 'facts.mjs', 'package-lock.json']) tool.update(readFileSync(new URL(`./${name}`, import.meta.url)));
  tool.update(ANALYSIS_VERSION);
  tool.update(JSON.stringify(ddl));
  const base = tool.digest('hex');
  const key = (s) => createHash('sha256').update(base).update(JSON.stringify([s.file, s.line, s.kind ?? null, s.text])).digest('hex');
  try {
    mkdirSync(dir, { recursive: true });
  } catch {
    return { get: () => null, put: () => {} };
  }
  return {
    get(s) {
      try {
        return JSON.parse(readFileSync(join(dir, `${key(s)}.json`), 'utf8'));
      } catch {
        return null;
      }
    },
    put(s, result) {
      try {
        const file = join(dir, `${key(s)}.json`);
        writeFileSync(`${file}.${process.pid}`, JSON.stringify(result));
        renameSync(`${file}.${process.pid}`, file);
      } catch {
        // a cache that cannot be written only costs time
      }
    },
  };
}

function shareOut(statements, count) {
  const shares = Array.from({ length: count }, () => ({ size: 0, items: [] }));
  const order = statements.map((s, index) => ({ ...s, index: s.index ?? index })).sort((a, b) => b.text.length - a.text.length);
  for (const s of order) {
    const share = shares.reduce((least, x) => (x.size < least.size ? x : least));
    share.items.push(s);
    share.size += s.text.length;
  }
  return shares.map((x) => x.items).filter((items) => items.length > 0);
}

function runWorker(items, ddl) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url), { workerData: { items, ddl } });
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => code !== 0 && reject(new Error(`worker exited with status ${code}`)));
  });
}

async function main() {
  const started = Date.now();
  let statements;
  try {
    statements = JSON.parse(readFileSync(0, 'utf8'));
    if (!Array.isArray(statements)) throw new Error('not a JSON array');
  } catch (error) {
    process.stderr.write(`sqlcheck.mjs: unusable input: ${error.message}\n`);
    process.exit(2);
  }
  const supplied = loadCatalog();
  for (const s of statements) collectDdlParameters(lex(s.text));
  const wanted = Number.parseInt(process.env.SQLPARSE_WORKERS ?? '', 10);
  const results = new Array(statements.length);
  const stages = { 1: 0, 2: 0, 3: 0, cached: 0 };
  const ddl = [...ddlPositions].map(([key, positions]) => [key, [...positions]]).sort();
  const cache = openCache(ddl);
  const todo = [];
  statements.forEach((s, index) => {
    const hit = cache.get(s);
    if (hit) {
      results[index] = hit;
      stages.cached += 1;
    } else todo.push({ ...s, index });
  });
  const workers = Math.min(wanted > 0 ? wanted : Math.min(availableParallelism(), 4), todo.length);
  if (workers <= 1) {
    for (const s of todo) results[s.index] = analyse(s);
    for (const k of [1, 2, 3]) stages[k] += parseStats[k];
  } else {
    const shares = await Promise.all(shareOut(todo, workers).map((items) => runWorker(items, ddl)));
    for (const share of shares) {
      for (const { index, result } of share.results) results[index] = result;
      for (const k of [1, 2, 3]) stages[k] += share.stats[k];
    }
  }
  for (const s of todo) cache.put(s, results[s.index]);
  // Statements without a `group` are the schema (sql/, in install order); each other group (a
  // fixture, the recorded Python SQL) is checked on its own against the schema they leave.
  const checker = new Checker(supplied);
  const problems = [];
  const groups = new Map();
  statements.forEach((s, index) => {
    problems.push(...results[index].problems);
    if (s.group) {
      if (!groups.has(s.group)) groups.set(s.group, []);
      groups.get(s.group).push(index);
      return;
    }
    for (const facts of results[index].facts) checker.apply({ file: s.file }, facts, facts.dynamic);
  });
  checker.finish();
  const schema = checker.catalog;
  const exported = {
    tables: Object.fromEntries([...schema.tables].map(([name, t]) => [name, t.columns])),
    sequences: [...schema.sequences].sort(),
    types: Object.fromEntries(schema.types),
    packages: Object.fromEntries([...schema.packages].map(([name, members]) => [name, members.map((m) => ({
      name: m.name, kind: m.kind, params: (m.params ?? []).map((p) => ({ name: p.name, mode: p.mode, hasDefault: p.default != null })),
    }))])),
  };
  let references = schema.resolved;
  for (const indexes of groups.values()) {
    checker.catalog = schema.clone();
    checker.catalog.resolved = 0;
    for (const index of indexes) {
      for (const facts of results[index].facts) checker.apply({ file: statements[index].file }, facts, facts.dynamic);
    }
    checker.finish();
    references += checker.catalog.resolved;
  }
  checker.catalog = schema;
  const findings = checker.findings;
  const summary = {
    statements: statements.length,
    references,
    findings: findings.length,
    problems: problems.length,
    supplied_used: [...checker.catalog.usedSupplied].sort(),
    parse_stages: stages,
    full_ll: [...new Set(statements.filter((s, i) => results[i].fullLL).map((s) => s.file))].sort(),
    seconds: (Date.now() - started) / 1000,
  };
  process.stdout.write(`${JSON.stringify({ problems, findings, summary, schema: exported })}\n`);
}

if (isMainThread) {
  await main();
} else {
  for (const [key, positions] of workerData.ddl) ddlPositions.set(key, new Set(positions));
  const results = workerData.items.map((s) => ({ index: s.index, result: analyse(s) }));
  parentPort.postMessage({ results, stats: parseStats });
}
