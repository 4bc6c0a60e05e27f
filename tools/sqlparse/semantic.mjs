// Semantic check: resolves the facts of every statement (facts.mjs) in install order against a
// catalog built from the statements before it plus the catalog of Oracle-supplied objects
// (catalog/oracle-19c.json). Each finding: {file, line, column, code, message}.

const SUPPLIED_PREFIX = /^(DBMS_|UTL_|OWA_|APEX_|DBA_|USER_|ALL_|V\$|GV\$|AQ\$|JSON_\w+_T$)/;

export class Catalog {
  constructor(supplied) {
    this.tables = new Map(); // name -> {kind, columns: [..] | null}
    this.sequences = new Set();
    this.types = new Map(); // name -> attributes
    this.packages = new Map(); // name -> members [..]
    this.bodies = new Map(); // name -> {subprograms, declared}
    this.supplied = supplied;
    this.resolved = 0;
    this.usedSupplied = new Set();
  }

  // A copy to check a fixture against: the schema as sql/ leaves it, without the fixture's
  // objects leaking into the next fixture.
  clone() {
    const copy = new Catalog(this.supplied);
    copy.tables = new Map(this.tables);
    copy.sequences = new Set(this.sequences);
    copy.types = new Map(this.types);
    copy.packages = new Map(this.packages);
    copy.bodies = new Map(this.bodies);
    copy.usedSupplied = this.usedSupplied;
    return copy;
  }

  table(name) {
    if (this.tables.has(name)) return this.tables.get(name);
    const view = this.supplied.views[name];
    if (view) {
      this.usedSupplied.add(name);
      return { kind: 'VIEW', columns: view.columns };
    }
    return null;
  }

  package(name) {
    if (this.packages.has(name)) return { members: this.packages.get(name), ours: true };
    const p = this.supplied.packages[name];
    if (p) return { members: p.members, ours: false };
    return null;
  }
}

// Does a call with `args` ([{name|null}]) match the overload `params`? null when it does, else why.
export function mismatch(params, args) {
  const names = params.map((p) => p.name);
  let positional = 0;
  const seen = new Set();
  for (const a of args) {
    if (a.name === null) {
      if (seen.size) return { code: 'PLS-00312', why: 'a positional parameter association may not follow a named association' };
      positional += 1;
    } else {
      if (seen.has(a.name)) return { code: 'PLS-00703', why: `multiple instances of named argument ${a.name} in list` };
      seen.add(a.name);
    }
  }
  if (positional > params.length) return { code: 'PLS-00306', why: `${positional} positional argument(s) for ${params.length} parameter(s)` };
  for (const name of seen) {
    const at = names.indexOf(name);
    if (at < 0) return { code: 'PLS-00306', why: `no parameter named ${name}` };
    if (at < positional) return { code: 'PLS-00703', why: `${name} passed by position and by name` };
  }
  const missing = params.filter((p, i) => i >= positional && !seen.has(p.name) && !p.hasDefault && p.default == null);
  if (missing.length) return { code: 'PLS-00306', why: `no value for ${missing.map((p) => p.name).join(', ')} (no default)` };
  return null;
}

function describe(params) {
  return `(${params.map((p) => `${p.name}${p.hasDefault || p.default != null ? '?' : ''}`).join(', ')})`;
}

export class Checker {
  constructor(supplied) {
    this.catalog = new Catalog(supplied);
    this.findings = [];
    this.deferred = [];
    this.statements = 0;
  }

  report(where, ref, code, message) {
    this.findings.push({ file: where.file, line: ref.line, column: ref.column + 1, code, message });
  }

  // One statement's facts: check its references, then add what it creates.
  // A dynamic statement (a literal run by EXECUTE IMMEDIATE or passed as p_ddl) runs when its
  // block runs, often behind a check that its objects exist: what it creates is added in order,
  // what it references is resolved against the schema as the whole run leaves it (finish()).
  apply(where, facts, dynamic = false) {
    this.statements += 1;
    for (const f of facts.findings) this.report(where, f, f.code, f.message);
    if (dynamic) this.deferred.push([where, facts]);
    else this.resolveAll(where, facts);
    for (const c of facts.creates) this.create(where, c);
  }

  resolveAll(where, facts) {
    const own = new Map(facts.creates.filter((c) => c.kind === 'TABLE').map((c) => [c.name, c]));
    for (const ref of facts.refs) this.resolve(where, ref, facts, own);
  }

  finish() {
    for (const [where, facts] of this.deferred.splice(0)) this.resolveAll(where, facts);
    return this.findings;
  }

  create(where, c) {
    const cat = this.catalog;
    if (c.kind === 'TABLE' || c.kind === 'VIEW') cat.tables.set(c.name, { kind: c.kind, columns: c.columns });
    else if (c.kind === 'SEQUENCE') cat.sequences.add(c.name);
    else if (c.kind === 'TYPE') cat.types.set(c.name, c.attributes);
    else if (c.kind === 'PACKAGE') cat.packages.set(c.name, c.members);
    else if (c.kind === 'BODY') {
      cat.bodies.set(c.name, c);
      this.specBody(where, c);
    }
  }

  specBody(where, body) {
    const spec = this.catalog.packages.get(body.name);
    if (!spec) {
      this.report(where, body, 'PLS-00201', `identifier '${body.name}' must be declared: package body without a spec`);
      return;
    }
    const same = (a, b) => a.length === b.length && a.every((p, i) => p.name === b[i].name && p.mode === b[i].mode && p.type === b[i].type);
    for (const m of spec.filter((x) => x.kind === 'procedure' || x.kind === 'function')) {
      const candidates = body.subprograms.filter((s) => s.name === m.name && s.kind === m.kind && s.returns === m.returns && same(s.params, m.params));
      if (!candidates.length) {
        this.report(where, body, 'PLS-00323', `subprogram or cursor '${m.name}' is declared in a package specification and must be defined in the package body (spec ${describe(m.params)}${m.returns ? ` return ${m.returns}` : ''})`);
        continue;
      }
      const exact = candidates.find((s) => s.params.every((p, i) => p.default === m.params[i].default));
      if (!exact) {
        const s = candidates[0];
        const p = s.params.find((q, i) => q.default !== m.params[i].default);
        this.report(where, s, 'PLS-00593', `default value of parameter "${p.name}" in body must match that of spec`);
      }
    }
  }

  columns(name) {
    const t = this.catalog.table(name);
    return t ? t.columns : undefined;
  }

  missingTable(where, ref, name) {
    if (SUPPLIED_PREFIX.test(name)) this.report(where, ref, 'CATALOG', `${name} is not in the catalog of Oracle-supplied objects (tools/sqlparse/catalog/oracle-19c.json): add it from the 19c reference`);
    else this.report(where, ref, 'ORA-00942', `table or view ${name} does not exist (at this point of the install)`);
  }

  resolve(where, ref, facts, own) {
    const cat = this.catalog;
    switch (ref.kind) {
      case 'table': {
        if (!cat.table(ref.name)) this.missingTable(where, ref, ref.name);
        else cat.resolved += 1;
        return;
      }
      case 'column': {
        const cols = ref.self && own.has(ref.table) ? own.get(ref.table).columns : this.columns(ref.table);
        if (cols === undefined || cols === null) return; // table reported (or columns unknown)
        cat.resolved += 1;
        if (!cols.includes(ref.name)) this.report(where, ref, ref.code, `"${ref.name}": invalid identifier (no such column in ${ref.table})`);
        return;
      }
      case 'insertcount': {
        const cols = this.columns(ref.table);
        if (!cols) return;
        cat.resolved += 1;
        if (cols.length !== ref.values) this.report(where, ref, ref.values < cols.length ? 'ORA-00947' : 'ORA-00913', `INSERT INTO ${ref.table} without a column list: ${cols.length} column(s), ${ref.values} value(s)`);
        return;
      }
      case 'typeref':
        this.typeRef(where, ref);
        return;
      case 'exception':
        this.exception(where, ref, facts);
        return;
      case 'dotted':
        this.dotted(where, ref, facts);
        return;
      case 'unqualified':
        this.unqualified(where, ref, facts);
        return;
      case 'field':
        this.field(where, ref);
        return;
      default:
        return;
    }
  }

  // Members of a package visible from `pkg` (its own body sees its private declarations).
  members(name, fromPkg, facts) {
    const found = this.catalog.package(name);
    if (!found) return null;
    let members = found.members;
    if (fromPkg === name) {
      const body = facts.creates.find((c) => c.kind === 'BODY' && c.name === name) ?? this.catalog.bodies.get(name);
      if (body) members = [...members, ...body.subprograms, ...body.declared];
    }
    if (!found.ours) this.catalog.usedSupplied.add(name);
    return members;
  }

  checkCall(where, ref, pkg, name, candidates, args) {
    const overloads = candidates.filter((m) => m.kind === 'procedure' || m.kind === 'function');
    if (!overloads.length) return;
    this.catalog.resolved += 1;
    const problems = overloads.map((m) => mismatch(m.params, args));
    if (problems.some((p) => p === null)) return;
    const first = problems.find((p) => p.code !== 'PLS-00306') ?? problems[0];
    const declared = overloads.map((m) => describe(m.params)).join(' | ');
    this.report(where, ref, first.code, `wrong number or types of arguments in call to '${name}' (${pkg}.${name}: ${first.why}; declared ${declared})`);
  }

  dotted(where, ref, facts) {
    let parts = ref.parts;
    if (parts[0] === 'SYS' && parts.length >= 3) parts = parts.slice(1);
    const [head, member] = parts;
    if (['NEXTVAL', 'CURRVAL'].includes(member)) {
      if (this.catalog.sequences.has(head)) this.catalog.resolved += 1;
      else if (!this.catalog.package(head)) this.report(where, ref, 'ORA-02289', `sequence ${head} does not exist (at this point of the install)`);
      return;
    }
    const members = this.members(head, ref.pkg, facts);
    if (!members) {
      if (SUPPLIED_PREFIX.test(head) && /^(DBMS_|UTL_)/.test(head)) {
        this.report(where, ref, 'CATALOG', `${head} is not in the catalog of Oracle-supplied objects: add it from the 19c reference`);
      } else if (this.catalog.types.has(head) || this.catalog.supplied.types?.[head]) this.staticMethod(where, ref, head, member);
      return;
    }
    const candidates = members.filter((m) => m.name === member);
    if (!candidates.length) {
      this.report(where, ref, 'PLS-00302', `component '${member}' must be declared (not in package ${head})`);
      return;
    }
    this.catalog.resolved += 1;
    const callable = candidates.filter((m) => m.kind === 'procedure' || m.kind === 'function');
    if (!callable.length) {
      if (parts.length > 2 && candidates[0].kind === 'variable') return;
      return;
    }
    const args = ref.argsAt === 1 || (ref.call && parts.length === 2) ? ref.args ?? [] : ref.argsAt === -1 ? [] : null;
    if (args === null) return;
    if (ref.sql) {
      const own = this.catalog.packages.get(head);
      if (own && !own.some((m) => m.name === member)) {
        this.report(where, ref, 'PLS-00231', `function '${member}' may not be used in SQL (private to ${head})`);
        return;
      }
    }
    this.checkCall(where, ref, head, member, callable, args);
  }

  staticMethod(where, ref, type, member) {
    const t = this.catalog.supplied.types?.[type];
    if (!t) return;
    this.catalog.usedSupplied.add(type);
    const candidates = t.members.filter((m) => m.name === member);
    if (!candidates.length) this.report(where, ref, 'PLS-00302', `component '${member}' must be declared (not a member of ${type})`);
    else this.checkCall(where, ref, type, member, candidates, ref.args ?? []);
  }

  unqualified(where, ref, facts) {
    const body = facts.creates.find((c) => c.kind === 'BODY' && c.name === ref.pkg);
    if (!body) return;
    const inBody = body.subprograms.filter((s) => s.name === ref.name);
    const inSpec = (this.catalog.packages.get(ref.pkg) ?? []).filter((m) => m.name === ref.name && m.kind !== 'type');
    if (!inBody.length && !inSpec.length) return; // a builtin, a local subprogram or a variable
    if (ref.sql && !inSpec.length) {
      this.report(where, ref, 'PLS-00231', `function '${ref.name}' may not be used in SQL (private to ${ref.pkg})`);
      return;
    }
    this.checkCall(where, ref, ref.pkg, ref.name, inSpec.length ? inSpec : inBody, ref.args ?? []);
  }

  typeRef(where, ref) {
    const [head, member] = ref.parts;
    const table = this.catalog.table(head);
    if (table) {
      this.catalog.resolved += 1;
      if (member && table.columns && !table.columns.includes(member)) this.report(where, ref, 'PLS-00302', `component '${member}' must be declared (no such column in ${head})`);
      return;
    }
    const pkg = this.catalog.package(head);
    if (pkg && member) {
      this.catalog.resolved += 1;
      if (!pkg.members.some((m) => m.name === member) && !(this.catalog.bodies.get(head)?.declared ?? []).some((m) => m.name === member)) {
        this.report(where, ref, 'PLS-00302', `component '${member}' must be declared (not in package ${head})`);
      }
      return;
    }
    if (ref.attr === 'ROWTYPE' && ref.parts.length === 1) {
      if (SUPPLIED_PREFIX.test(head)) this.missingTable(where, ref, head);
      return; // a cursor or local record
    }
    if (ref.parts.length === 2 && SUPPLIED_PREFIX.test(head)) this.missingTable(where, ref, head);
  }

  exception(where, ref, facts) {
    const parts = ref.parts;
    if (parts.length === 1) {
      const own = [...(this.catalog.packages.get(ref.pkg) ?? []), ...(facts.creates.find((c) => c.kind === 'BODY')?.declared ?? [])];
      if (own.some((m) => m.name === parts[0] && m.kind === 'exception')) return;
      this.report(where, ref, 'PLS-00201', `identifier '${parts[0]}' must be declared (not a predefined or declared exception)`);
      return;
    }
    const members = this.members(parts[0], ref.pkg, facts);
    if (!members) {
      this.report(where, ref, 'PLS-00201', `identifier '${parts.join('.')}' must be declared`);
      return;
    }
    this.catalog.resolved += 1;
    if (!members.some((m) => m.name === parts[1] && m.kind === 'exception')) {
      this.report(where, ref, 'PLS-00302', `component '${parts[1]}' must be declared (no exception ${parts[1]} in ${parts[0]})`);
    }
  }

  field(where, ref) {
    const type = ref.type;
    let fields = null;
    const rowtype = /^(\w+|"[^"]+")%ROWTYPE$/.exec(type);
    if (rowtype) {
      const t = this.catalog.table(rowtype[1]);
      fields = t?.columns ?? null;
    } else if (type.includes('.') && !type.includes('%')) {
      const [pkg, name] = type.split('.');
      const members = this.catalog.package(pkg)?.members ?? (pkg === ref.pkg ? this.catalog.bodies.get(pkg)?.declared : null);
      const t = members?.find((m) => m.name === name && m.kind === 'type');
      fields = t?.fields ?? null;
    } else if (this.catalog.types.has(type)) fields = this.catalog.types.get(type);
    if (!fields) return;
    this.catalog.resolved += 1;
    if (!fields.includes(ref.field)) this.report(where, ref, 'PLS-00302', `component '${ref.field}' must be declared (not a field of ${type})`);
  }
}
