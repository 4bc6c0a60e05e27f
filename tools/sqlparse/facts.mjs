// What one parsed statement declares and references, read from its ANTLR tree (see sqlcheck.mjs).
// Runs in the parse workers; the result is plain JSON, resolved in install order by semantic.mjs.
//
// facts = { creates: [...], refs: [...], findings: [...] } with positions relative to the text
// (line 1-based, column 0-based). Aliases, derived tables, JSON_TABLE columns, cursor-loop
// records and local declarations are resolved here; names that need the catalog (tables, views,
// packages, sequences, supplied objects) are left to semantic.mjs.

import { ParserRuleContext } from 'antlr4';
import { PlSqlParser } from './lib.mjs';

const NAMES = PlSqlParser.ruleNames;
const rn = (n) => (n instanceof ParserRuleContext ? NAMES[n.ruleIndex] : null);
const kids = (n, name) => (n?.children ?? []).filter((c) => rn(c) === name);
const kid = (n, name) => kids(n, name)[0] ?? null;
const terminals = (n) => (n?.children ?? []).filter((c) => !(c instanceof ParserRuleContext)).map((c) => c.getText().toUpperCase());

// Descendants named `name`, not looking inside rules listed in `stop` (a match is not entered).
function find(n, name, stop = []) {
  const out = [];
  const walk = (m) => {
    for (const c of m.children ?? []) {
      const r = rn(c);
      if (!r) continue;
      if (r === name) out.push(c);
      else if (!stop.includes(r)) walk(c);
    }
  };
  walk(n);
  return out;
}

export function ident(n) {
  const text = typeof n === 'string' ? n : n.getText();
  return text.startsWith('"') ? text.slice(1, -1) : text.toUpperCase();
}

const pos = (n) => ({ line: n.start.line, column: n.start.column });

// A general_element as its parts: [{name, args, node}], args = null or [{name|null}].
function elementParts(ge) {
  const parts = [];
  for (const c of ge.children ?? []) {
    const r = rn(c);
    if (r === 'general_element') parts.push(...elementParts(c));
    else if (r === 'general_element_part') {
      const id = kid(c, 'id_expression');
      const fa = kids(c, 'function_argument');
      parts.push({ name: id ? ident(id) : c.getText().toUpperCase(), args: fa.length ? argumentsOf(fa[0]) : null, node: c });
    }
  }
  return parts;
}

function argumentsOf(fa) {
  return kids(fa, 'argument').map((a) => {
    const first = a.children?.[0];
    const named = rn(first) === 'identifier' && (a.children?.length ?? 0) > 1;
    return { name: named ? ident(first) : null };
  });
}

// Names a select list gives its columns; null when it has '*' (unknown here).
function selectNames(queryBlock) {
  const list = kid(queryBlock, 'selected_list');
  if (!list || terminals(list).includes('*')) return null;
  const names = [];
  for (const el of kids(list, 'select_list_elements')) {
    const alias = kid(el, 'column_alias');
    if (alias) {
      const id = kid(alias, 'identifier') ?? kid(alias, 'quoted_string');
      names.push(id ? ident(id) : null);
      continue;
    }
    if (terminals(el).includes('*')) return null;
    const ges = find(el, 'general_element');
    const expr = kid(el, 'expression');
    const only = ges.length && expr && expr.getText() === ges[0].getText() ? elementParts(ges[0]) : null;
    names.push(only ? only[only.length - 1].name : null);
  }
  return names;
}

function firstQueryBlock(n) {
  if (rn(n) === 'query_block') return n;
  return find(n, 'query_block')[0] ?? null;
}

function queryNames(n) {
  const qb = n && firstQueryBlock(n);
  return qb ? selectNames(qb) : null;
}

function typeText(typeSpec) {
  return typeSpec ? typeSpec.getText().toUpperCase().replaceAll('"', '') : null;
}

function paramsOf(n) {
  return kids(n, 'parameter').map((p) => {
    const words = terminals(p);
    const mode = words.includes('OUT') ? (words.includes('IN') ? 'IN OUT' : 'OUT') : 'IN';
    const def = kid(p, 'default_value_part');
    return {
      name: ident(kid(p, 'parameter_name')),
      mode,
      type: typeText(kid(p, 'type_spec')),
      default: def ? kid(def, 'expression').getText().toUpperCase() : null,
    };
  });
}

function subprogram(n, kind) {
  const name = kid(n, 'identifier') ?? kid(n, 'procedure_name') ?? kid(n, 'function_name');
  return {
    name: ident(name),
    kind,
    params: paramsOf(n),
    returns: kind === 'function' ? typeText(kid(n, 'type_spec')) : null,
    ...pos(n),
  };
}

function recordFields(typeDecl) {
  const rec = find(typeDecl, 'record_type_def')[0];
  return rec ? kids(rec, 'field_spec').map((f) => ident(kid(f, 'column_name'))) : null;
}

// Members declared by a package spec (or the declarations of a body).
function packageMembers(specs) {
  const members = [];
  for (const spec of specs) {
    for (const c of spec.children ?? []) {
      const r = rn(c);
      if (r === 'procedure_spec') members.push(subprogram(c, 'procedure'));
      else if (r === 'function_spec') members.push(subprogram(c, 'function'));
      else if (r === 'variable_declaration') {
        members.push({ name: ident(kid(c, 'identifier')), kind: terminals(c).includes('CONSTANT') ? 'constant' : 'variable', type: typeText(kid(c, 'type_spec')), ...pos(c) });
      } else if (r === 'exception_declaration') members.push({ name: ident(kid(c, 'identifier')), kind: 'exception', ...pos(c) });
      else if (r === 'type_declaration' || r === 'subtype_declaration') {
        members.push({ name: ident(kid(c, 'identifier')), kind: 'type', fields: recordFields(c), ...pos(c) });
      } else if (r === 'cursor_declaration') members.push({ name: ident(kid(c, 'identifier')), kind: 'cursor', ...pos(c) });
    }
  }
  return members;
}

const PREDEFINED_EXCEPTIONS = new Set([
  'ACCESS_INTO_NULL', 'CASE_NOT_FOUND', 'COLLECTION_IS_NULL', 'CURSOR_ALREADY_OPEN', 'DUP_VAL_ON_INDEX',
  'INVALID_CURSOR', 'INVALID_NUMBER', 'LOGIN_DENIED', 'NO_DATA_FOUND', 'NO_DATA_NEEDED', 'NOT_LOGGED_ON',
  'PROGRAM_ERROR', 'ROWTYPE_MISMATCH', 'SELF_IS_NULL', 'STORAGE_ERROR', 'SUBSCRIPT_BEYOND_COUNT',
  'SUBSCRIPT_OUTSIDE_LIMIT', 'SYS_INVALID_ROWID', 'TIMEOUT_ON_RESOURCE', 'TOO_MANY_ROWS', 'VALUE_ERROR',
  'ZERO_DIVIDE', 'OTHERS',
]);

class Extractor {
  constructor() {
    this.creates = [];
    this.refs = [];
    this.findings = [];
  }

  finding(n, code, message) {
    this.findings.push({ ...pos(n), code, message });
  }

  ref(n, kind, data) {
    this.refs.push({ ...pos(n), kind, ...data });
  }

  // --- statements -----------------------------------------------------------------------------

  statement(tree, dynamic) {
    for (const unit of kids(tree, 'unit_statement')) {
      const c = unit.children?.[0];
      if (!c) continue;
      this.dynamic = dynamic;
      const r = rn(c);
      const scope = { frames: [], vars: new Map(), exceptions: new Set(), pkg: null, sql: false };
      if (r === 'create_table') this.createTable(c, scope);
      else if (r === 'create_view') this.createView(c, scope);
      else if (r === 'create_sequence') this.creates.push({ kind: 'SEQUENCE', name: ident(kid(c, 'sequence_name')), ...pos(c) });
      else if (r === 'create_type') this.createType(c);
      else if (r === 'create_package') this.createPackage(c);
      else if (r === 'create_package_body') this.createBody(c, scope);
      else if (r === 'create_index') this.createIndex(c, scope);
      else if (r === 'data_manipulation_language_statements' || r === 'anonymous_block') this.visit(c, { ...scope, sql: r !== 'anonymous_block' });
      else if (r !== 'comment_on_table' && r !== 'comment_on_column') this.rules19c(c);
    }
  }

  createTable(c, scope) {
    const name = ident(kid(c, 'table_name'));
    const columns = find(c, 'column_definition').map((d) => ident(kid(d, 'column_name')));
    const virtual = find(c, 'virtual_column_definition').map((d) => ident(kid(d, 'column_name')));
    this.creates.push({ kind: 'TABLE', name, columns: [...columns, ...virtual], ...pos(c) });
    for (const d of find(c, 'column_definition')) {
      const type = kid(d, 'datatype') ?? kid(d, 'type_name');
      if (type) this.datatype19c(type, false);
    }
    for (const con of find(c, 'out_of_line_constraint')) {
      const refs = find(con, 'references_clause');
      for (const col of kids(con, 'column_name')) this.ref(col, 'column', { table: name, name: ident(col), code: 'ORA-00904', self: true });
      for (const rc of refs) {
        const target = kid(rc, 'tableview_name');
        if (!target) continue;
        const t = tableName(target);
        this.ref(target, 'table', { name: t });
        for (const col of find(rc, 'column_name')) this.ref(col, 'column', { table: t, name: ident(col), code: 'ORA-00904' });
      }
    }
    this.rules19c(c);
    for (const chk of find(c, 'condition')) this.visit(chk, { ...scope, sql: true, frames: [new Map([[name, { table: name, self: true }]])] });
  }

  createIndex(c) {
    const table = find(c, 'tableview_name')[0];
    if (!table) return;
    const t = tableName(table);
    this.ref(table, 'table', { name: t });
    for (const col of find(c, 'index_expr')) {
      const parts = find(col, 'general_element')[0];
      if (parts && col.getText() === parts.getText()) this.ref(col, 'column', { table: t, name: elementParts(parts).at(-1).name, code: 'ORA-00904' });
    }
  }

  createView(c, scope) {
    const ids = kids(c, 'id_expression');
    const name = ident(kid(c, 'tableview_name') ?? ids[ids.length - 1]);
    const query = kid(c, 'select_only_statement') ?? find(c, 'subquery')[0];
    const aliasList = find(c, 'view_alias_constraint')[0];
    let columns = aliasList ? find(aliasList, 'column_alias').map((a) => ident(a.children.at(-1))) : null;
    this.visit(query, { ...scope, sql: true });
    if (!columns) columns = queryNames(query);
    this.creates.push({ kind: 'VIEW', name, columns, ...pos(c) });
  }

  createType(c) {
    const def = find(c, 'type_definition')[0];
    if (!def) return;
    const name = ident(kid(def, 'type_name'));
    const attributes = find(def, 'object_member_spec')
      .filter((m) => kid(m, 'identifier') && kid(m, 'type_spec'))
      .map((m) => ident(kid(m, 'identifier')));
    this.creates.push({ kind: 'TYPE', name, attributes, ...pos(c) });
  }

  createPackage(c) {
    const name = ident(kid(c, 'package_name'));
    const members = packageMembers(kids(c, 'package_obj_spec'));
    this.creates.push({ kind: 'PACKAGE', name, members, ...pos(c) });
    const scope = { frames: [], vars: new Map(), exceptions: new Set(), pkg: name, sql: false, types: new Map() };
    for (const m of members) if (m.kind === 'type') scope.types.set(m.name, m.fields);
    for (const spec of kids(c, 'package_obj_spec')) this.visitDeclarations(spec, scope);
  }

  createBody(c, outer) {
    const name = ident(kid(c, 'package_name'));
    const bodies = kids(c, 'package_obj_body');
    const subprograms = [];
    const scope = { ...outer, pkg: name, vars: new Map(), exceptions: new Set(), types: new Map() };
    const declared = packageMembers(bodies);
    for (const m of declared) {
      if (m.kind === 'variable' || m.kind === 'constant') scope.vars.set(m.name, m.type);
      if (m.kind === 'exception') scope.exceptions.add(m.name);
      if (m.kind === 'type') scope.types.set(m.name, m.fields);
    }
    for (const b of bodies) {
      for (const s of b.children ?? []) {
        const r = rn(s);
        if (r === 'procedure_body' || r === 'function_body') {
          subprograms.push(subprogram(s, r === 'procedure_body' ? 'procedure' : 'function'));
        }
      }
    }
    this.creates.push({ kind: 'BODY', name, subprograms, declared, ...pos(c) });
    for (const b of bodies) this.visit(b, scope);
  }

  // --- PL/SQL scopes ---------------------------------------------------------------------------

  declare(n, scope) {
    for (const d of find(n, 'variable_declaration', ['seq_of_statements', 'procedure_body', 'function_body'])) {
      const type = typeText(kid(d, 'type_spec'));
      scope.vars.set(ident(kid(d, 'identifier')), type);
      this.datatype19cIn(d);
    }
    for (const d of find(n, 'exception_declaration', ['seq_of_statements', 'procedure_body', 'function_body'])) {
      scope.exceptions.add(ident(kid(d, 'identifier')));
    }
    for (const d of find(n, 'type_declaration', ['seq_of_statements', 'procedure_body', 'function_body'])) {
      scope.types.set(ident(kid(d, 'identifier')), recordFields(d));
    }
    for (const d of find(n, 'cursor_declaration', ['seq_of_statements', 'procedure_body', 'function_body'])) {
      const q = kid(d, 'select_statement');
      scope.vars.set(ident(kid(d, 'identifier')), { cursor: q ? queryNames(q) : null });
    }
  }

  visitDeclarations(n, scope) {
    for (const t of find(n, 'type_spec')) this.typeSpec(t, scope);
    for (const e of find(n, 'expression')) this.visit(e, scope);
  }

  subprogramScope(n, outer) {
    const scope = { ...outer, vars: new Map(outer.vars), exceptions: new Set(outer.exceptions), types: new Map(outer.types ?? []), frames: [], sql: false };
    for (const p of kids(n, 'parameter')) scope.vars.set(ident(kid(p, 'parameter_name')), typeText(kid(p, 'type_spec')));
    this.declare(n, scope);
    return scope;
  }

  // --- the walk --------------------------------------------------------------------------------

  visit(n, scope) {
    if (!(n instanceof ParserRuleContext)) return;
    const r = rn(n);
    switch (r) {
      case 'procedure_body':
      case 'function_body':
      case 'anonymous_block':
      case 'block': {
        const inner = this.subprogramScope(n, { types: new Map(), ...scope });
        for (const c of n.children ?? []) this.visit(c, inner);
        return;
      }
      case 'query_block':
        this.queryBlock(n, scope);
        return;
      case 'insert_statement':
        this.insert(n, scope);
        return;
      case 'update_statement':
      case 'delete_statement':
        this.updateOrDelete(n, scope);
        return;
      case 'merge_statement':
        this.merge(n, scope);
        return;
      case 'general_element':
        this.element(n, scope);
        return;
      case 'call_statement':
        this.call(n, scope);
        return;
      case 'exception_handler':
        for (const e of kids(n, 'exception_name')) this.exceptionName(e, scope);
        for (const c of n.children ?? []) if (rn(c) !== 'exception_name') this.visit(c, scope);
        return;
      case 'type_spec':
        this.typeSpec(n, scope);
        return;
      case 'loop_statement':
        this.loop(n, scope);
        return;
      case 'constant':
        if (scope.sql && ['TRUE', 'FALSE'].includes(n.getText().toUpperCase())) {
          this.finding(n, this.dynamic || !scope.inPlsql ? 'ORA-00904' : 'PLS-00382', `19c: BOOLEAN literal ${n.getText().toUpperCase()} in SQL (SQL has no BOOLEAN before 23ai)`);
        }
        break;
      case 'select_statement':
      case 'select_only_statement':
        for (const c of n.children ?? []) this.visit(c, { ...scope, sql: true, inPlsql: scope.inPlsql ?? !scope.sql });
        return;
      case 'seq_of_statements':
        for (const c of n.children ?? []) this.visit(c, { ...scope, inPlsql: true });
        return;
      default:
        break;
    }
    for (const c of n.children ?? []) this.visit(c, scope);
  }

  sqlScope(scope, frame) {
    return { ...scope, sql: true, inPlsql: scope.inPlsql ?? !scope.sql, frames: [...scope.frames, frame] };
  }

  // FROM sources of a query block: alias -> {table} | {columns}
  sources(from, frame, ctes) {
    for (const aux of find(from, 'table_ref_aux', ['select_statement', 'subquery'])) {
      const internal = kid(aux, 'table_ref_aux_internal');
      const aliasNode = kid(aux, 'table_alias');
      const alias = aliasNode ? ident(aliasNode.children.at(-1)) : null;
      const dml = internal && find(internal, 'dml_table_expression_clause', ['select_statement', 'subquery'])[0];
      if (!dml) continue;
      const tv = kid(dml, 'tableview_name');
      const jt = kid(dml, 'json_table_clause');
      const sub = kid(dml, 'select_statement') ?? kid(dml, 'subquery');
      if (tv) {
        const t = tableName(tv);
        if (ctes.has(t)) frame.set(alias ?? t, { columns: ctes.get(t) });
        else {
          this.ref(tv, 'table', { name: t });
          frame.set(alias ?? t, { table: t });
        }
      } else if (jt) {
        const cols = find(jt, 'json_column_definition').map((d) => {
          const first = d.children?.find((x) => rn(x) !== null);
          return first ? ident(first) : null;
        });
        if (alias) frame.set(alias, { columns: cols.includes(null) ? null : cols });
      } else if (sub) {
        if (alias) frame.set(alias, { columns: queryNames(sub) });
      } else if (alias) frame.set(alias, { columns: null });
    }
  }

  queryBlock(n, scope) {
    const from = kid(n, 'from_clause');
    const frame = new Map();
    const ctes = new Map(scope.ctes ?? []);
    if (from) this.sources(from, frame, ctes);
    else this.finding(n, 'ORA-00923', '19c: SELECT without FROM (allowed only from 23ai; use FROM DUAL)');
    const inner = { ...this.sqlScope(scope, frame), ctes };
    const into = kid(n, 'into_clause');
    if (into) {
      const names = selectNames(n);
      const targets = [...kids(into, 'general_element'), ...kids(into, 'bind_variable')];
      const count = kids(kid(n, 'selected_list'), 'select_list_elements').length;
      const record = targets.length === 1 && this.isRecord(targets[0], scope);
      if (names !== null && !record && targets.length !== count) {
        this.finding(into, targets.length > count ? 'ORA-00913' : 'ORA-00947', `${targets.length} INTO target(s) for ${count} selected value(s): ${targets.length > count ? 'too many values' : 'not enough values'}`);
      }
    }
    for (const c of n.children ?? []) {
      if (c === into) continue;
      this.visit(c, inner);
    }
  }

  isRecord(target, scope) {
    const name = target.getText().toUpperCase();
    const type = scope.vars.get(name);
    if (type === undefined) return true; // unknown: give it the benefit of the doubt
    if (typeof type !== 'string') return true;
    return /%ROWTYPE$/.test(type) || (scope.types?.has(type) ?? false) || type.includes('.');
  }

  tableRef(gtr, scope) {
    const dml = kid(gtr, 'dml_table_expression_clause');
    const tv = dml && kid(dml, 'tableview_name');
    const aliasNode = kid(gtr, 'table_alias');
    if (!tv) return { frame: new Map(), table: null };
    const t = tableName(tv);
    this.ref(tv, 'table', { name: t, dml: true });
    const frame = new Map([[t, { table: t }]]);
    if (aliasNode) frame.set(ident(aliasNode.children.at(-1)), { table: t });
    return { frame, table: t };
  }

  columnList(list, table) {
    const cols = list ? find(list, 'column_name') : [];
    for (const col of cols) {
      const parts = col.getText().split('.');
      this.ref(col, 'column', { table, name: ident(parts.at(-1)), code: 'ORA-00904' });
    }
    return cols.length;
  }

  valueCount(n) {
    const values = kid(n, 'values_clause');
    if (values) {
      const exprs = kid(values, 'expressions_');
      return exprs ? kids(exprs, 'expression').length : null;
    }
    const sel = kid(n, 'select_statement');
    const names = sel ? queryNames(sel) : null;
    return names ? names.length : null;
  }

  insert(n, scope) {
    for (const single of find(n, 'single_table_insert', ['select_statement'])) {
      const into = kid(single, 'insert_into_clause');
      const { frame, table } = this.tableRef(kid(into, 'general_table_ref'), scope);
      const listed = kid(into, 'paren_column_list');
      const columns = listed ? this.columnList(listed, table) : null;
      const values = this.valueCount(single);
      if (table && values !== null) {
        if (columns !== null && columns !== values) {
          this.finding(into, values < columns ? 'ORA-00947' : 'ORA-00913', `INSERT INTO ${table}: ${columns} column(s), ${values} value(s)`);
        } else if (columns === null) this.ref(into, 'insertcount', { table, values });
      }
      for (const c of single.children ?? []) if (c !== into) this.visit(c, this.sqlScope(scope, frame));
    }
  }

  updateOrDelete(n, scope) {
    const { frame, table } = this.tableRef(kid(n, 'general_table_ref'), scope);
    const inner = this.sqlScope(scope, frame);
    for (const set of find(n, 'column_based_update_set_clause')) {
      for (const col of kids(set, 'column_name')) {
        const parts = col.getText().split('.');
        if (table) this.ref(col, 'column', { table, name: ident(parts.at(-1)), code: 'ORA-00904' });
      }
      const list = kid(set, 'paren_column_list');
      if (list && table) this.columnList(list, table);
    }
    for (const c of n.children ?? []) {
      if (rn(c) === 'general_table_ref') continue;
      if (rn(c) === 'static_returning_clause') {
        for (const e of kids(c, 'expressions_')) this.visit(e, inner);
        continue;
      }
      this.visit(c, inner);
    }
  }

  merge(n, scope) {
    const views = kids(n, 'selected_tableview');
    const frame = new Map();
    let target = null;
    views.forEach((v, i) => {
      const tv = kid(v, 'tableview_name');
      const aliasNode = kid(v, 'table_alias');
      const alias = aliasNode ? ident(aliasNode.children.at(-1)) : null;
      if (tv) {
        const t = tableName(tv);
        this.ref(tv, 'table', { name: t, dml: i === 0 });
        frame.set(alias ?? t, { table: t });
        if (i === 0) target = t;
      } else {
        const sub = kid(v, 'select_statement');
        if (sub) this.visit(sub, scope);
        if (alias) frame.set(alias, { columns: sub ? queryNames(sub) : null });
      }
    });
    const inner = this.sqlScope(scope, frame);
    for (const el of find(n, 'merge_element')) {
      const col = kid(el, 'column_name');
      if (col && target) this.ref(col, 'column', { table: target, name: ident(col.getText().split('.').at(-1)), code: 'ORA-00904' });
    }
    for (const ins of find(n, 'merge_insert_clause')) {
      const list = kid(ins, 'paren_column_list');
      const columns = list && target ? this.columnList(list, target) : null;
      const values = this.valueCount(ins);
      if (columns !== null && values !== null && columns !== values) {
        this.finding(ins, values < columns ? 'ORA-00947' : 'ORA-00913', `MERGE INSERT INTO ${target}: ${columns} column(s), ${values} value(s)`);
      }
    }
    for (const c of n.children ?? []) if (rn(c) !== 'selected_tableview') this.visit(c, inner);
  }

  loop(n, scope) {
    const param = kid(n, 'cursor_loop_param');
    if (!param) {
      for (const c of n.children ?? []) this.visit(c, scope);
      return;
    }
    const inner = { ...scope, vars: new Map(scope.vars) };
    const record = kid(param, 'record_name');
    const sel = kid(param, 'select_statement');
    if (record) {
      if (sel) inner.vars.set(ident(record), { cursor: queryNames(sel) });
      else {
        const cursor = kid(param, 'cursor_name');
        const declared = cursor ? scope.vars.get(ident(cursor)) : undefined;
        inner.vars.set(ident(record), declared && typeof declared === 'object' ? declared : { cursor: null });
      }
    } else {
      const index = kid(param, 'index_name');
      if (index) inner.vars.set(ident(index), 'PLS_INTEGER');
    }
    for (const c of param.children ?? []) if (rn(c) === 'select_statement') this.visit(c, scope);
    for (const c of n.children ?? []) if (c !== param) this.visit(c, inner);
  }

  // A dotted name: a column (alias.column), a record field, or something for semantic.mjs.
  element(ge, scope) {
    const parts = elementParts(ge);
    for (const p of parts) {
      if (p.args === null) continue;
      for (const fa of kids(p.node, 'function_argument')) {
        for (const a of kids(fa, 'argument')) this.visit(a, scope);
      }
    }
    if (parts.length < 2) {
      if (parts.length === 1 && scope.sql && parts[0].args !== null && scope.pkg) {
        this.ref(ge, 'unqualified', { name: parts[0].name, pkg: scope.pkg, args: parts[0].args, sql: true });
      }
      return;
    }
    const [first, second] = parts;
    if (scope.sql && first.args === null) {
      for (let i = scope.frames.length - 1; i >= 0; i -= 1) {
        const source = scope.frames[i].get(first.name);
        if (!source) continue;
        if (source.table) this.ref(second.node, 'column', { table: source.table, name: second.name, code: 'ORA-00904' });
        else if (source.columns && !source.columns.includes(second.name)) {
          this.finding(second.node, 'ORA-00904', `"${first.name}"."${second.name}": invalid identifier (not a column of ${first.name})`);
        }
        return;
      }
    }
    const local = first.args === null ? scope.vars.get(first.name) : undefined;
    if (local !== undefined) {
      if (local && typeof local === 'object') {
        if (local.cursor && !local.cursor.includes(second.name)) {
          this.finding(second.node, 'PLS-00302', `component '${second.name}' must be declared (not a column of the cursor of ${first.name})`);
        }
      } else if (local) {
        const fields = scope.types?.get(local);
        if (fields && !fields.includes(second.name)) this.finding(second.node, 'PLS-00302', `component '${second.name}' must be declared (record type ${local})`);
        else if (!fields) this.ref(second.node, 'field', { type: local, field: second.name, pkg: scope.pkg });
      }
      return;
    }
    this.ref(ge, 'dotted', {
      parts: parts.map((p) => p.name),
      args: parts.find((p) => p.args !== null)?.args ?? null,
      argsAt: parts.findIndex((p) => p.args !== null),
      pkg: scope.pkg,
      sql: scope.sql,
    });
  }

  call(n, scope) {
    const routine = kid(n, 'routine_name');
    const fas = kids(n, 'function_argument');
    const names = routine ? routine.getText().split('.').map(ident) : [];
    const args = fas.length ? argumentsOf(fas[0]) : [];
    if (names.length >= 2 && !scope.vars.has(names[0])) {
      this.ref(routine, 'dotted', { parts: names, args, argsAt: names.length - 1, pkg: scope.pkg, sql: false, call: true });
    } else if (names.length === 1 && scope.pkg) {
      this.ref(routine, 'unqualified', { name: names[0], pkg: scope.pkg, args, sql: false });
    }
    for (const fa of fas) this.visit(fa, scope);
  }

  exceptionName(e, scope) {
    const names = e.getText().split('.').map(ident);
    if (names.length === 1) {
      const name = names[0];
      if (PREDEFINED_EXCEPTIONS.has(name) || scope.exceptions.has(name)) return;
      this.ref(e, 'exception', { parts: names, pkg: scope.pkg });
    } else this.ref(e, 'exception', { parts: names, pkg: scope.pkg });
  }

  typeSpec(t, scope) {
    const words = terminals(t);
    const typeName = kid(t, 'type_name');
    if (typeName && (words.includes('%TYPE') || words.includes('%ROWTYPE'))) {
      const parts = typeName.getText().split('.').map(ident);
      if (parts.length === 1 && scope.vars.has(parts[0])) return;
      this.ref(t, 'typeref', { parts, attr: words.includes('%TYPE') ? 'TYPE' : 'ROWTYPE', pkg: scope.pkg });
    }
    for (const d of find(t, 'datatype')) this.datatype19c(d, true);
  }

  datatype19cIn(n) {
    for (const d of find(n, 'datatype')) this.datatype19c(d, true);
  }

  datatype19c(d, plsql) {
    const text = d.getText().toUpperCase();
    if (text === 'JSON') this.finding(d, plsql ? 'PLS-00201' : 'ORA-00902', '19c: the JSON data type exists from 21c; store JSON in CLOB/VARCHAR2 with IS JSON');
    if (text === 'BOOLEAN' && !plsql) this.finding(d, 'ORA-00902', '19c: BOOLEAN columns exist from 23ai');
    if (text.startsWith('VECTOR')) this.finding(d, plsql ? 'PLS-00201' : 'ORA-00902', '19c: the VECTOR data type exists from 23ai');
  }

  rules19c(c) {
    const tokens = [];
    const walk = (m) => {
      for (const x of m.children ?? []) {
        if (x instanceof ParserRuleContext) walk(x);
        else tokens.push(x.symbol);
      }
    };
    walk(c);
    tokens.forEach((t, i) => {
      const w = t.text.toUpperCase();
      const next = tokens[i + 1]?.text.toUpperCase();
      const after = tokens[i + 2]?.text.toUpperCase();
      if (w === 'IF' && (next === 'EXISTS' || (next === 'NOT' && after === 'EXISTS'))) {
        this.findings.push({ line: t.line, column: t.column, code: 'ORA-00922', message: `19c: ${next === 'NOT' ? 'IF NOT EXISTS' : 'IF EXISTS'} in DDL exists from 23ai` });
      }
      if (w === 'ANNOTATIONS' && next === '(') {
        this.findings.push({ line: t.line, column: t.column, code: 'ORA-00922', message: '19c: annotations exist from 23ai' });
      }
      if (w === 'DOMAIN' && i > 0 && ['CREATE', 'DROP', 'ALTER'].includes(tokens[i - 1].text.toUpperCase())) {
        this.findings.push({ line: t.line, column: t.column, code: 'ORA-00901', message: '19c: SQL domains exist from 23ai' });
      }
    });
  }
}

function tableName(tv) {
  const parts = tv.getText().split('.').map(ident);
  return parts.at(-1);
}

export function extract(tree, dynamic) {
  const x = new Extractor();
  x.statement(tree, dynamic);
  return { creates: x.creates, refs: x.refs, findings: x.findings };
}
