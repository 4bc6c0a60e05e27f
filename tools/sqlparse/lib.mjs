// Shared by check.mjs (grammar parse) and sqlcheck.mjs (grammar parse + semantic check): the
// ANTLR parse of one statement, with the fast prediction strategy described in
// docs/development/static-parse.md ("Speed"), and the syntax checks of check.mjs.

import {
  BailErrorStrategy, CharStream, CommonTokenStream, ErrorListener, ParserRuleContext,
  PredictionMode, Token,
} from 'antlr4';
import { PlSqlLexer, PlSqlParser } from '@griffithswaite/ts-plsql-parser';

export { PlSqlLexer, PlSqlParser };

class Collector extends ErrorListener {
  constructor() {
    super();
    this.errors = [];
  }

  syntaxError(recognizer, offendingSymbol, line, column, msg) {
    this.errors.push({ line, column, message: shorten(msg) });
  }
}

// ANTLR lists every token it would have accepted; for this grammar that is often 2,000 names.
export function shorten(message) {
  return message.replace(/expecting \{([^}]*)\}/, (whole, inner) => {
    const alternatives = inner.split(', ');
    return alternatives.length <= 8 ? whole : `expecting one of ${alternatives.length} alternatives`;
  });
}

export function visibleTokens(tokens) {
  return tokens.tokens.filter((t) => t.channel === Token.DEFAULT_CHANNEL && t.type !== Token.EOF);
}

// Tokens only (for classifying a dynamic statement before it is parsed).
export function lex(text) {
  const lexer = new PlSqlLexer(new CharStream(text));
  lexer.removeErrorListeners();
  const tokens = new CommonTokenStream(lexer);
  tokens.fill();
  return visibleTokens(tokens);
}

// Why the parse is staged: with this grammar, ANTLR's adaptive prediction spends most of a run in
// one decision, the `function_argument*` loop of general_element_part: after `name (` it reads
// ahead through the whole argument list (full LL, then SLL with a cache that rarely hits, since
// every argument list is new), because the grammar lets `(` follow a name in other ways too. Each
// stage below is tried in turn and the first that parses wins:
//   1. SLL prediction, `name (` always taken as an argument list, stop at the first error;
//   2. LL prediction with the same rule, stop at the first error;
//   3. the grammar unchanged (LL, error recovery), which also reports every syntax error.
// Stages 1-2 only ever choose alternatives the grammar allows, so a successful parse there is a
// derivation of the input by the grammar: they cannot accept what stage 3 would reject.
const STAR_LOOP_ENTRY = 10; // ATNState.STAR_LOOP_ENTRY (not exported by the antlr4 package)
let argumentLoop = null;

function argumentLoopDecision(parser) {
  if (argumentLoop === null) {
    argumentLoop = -1;
    parser.atn.decisionToState.forEach((state, decision) => {
      if (state.ruleIndex === PlSqlParser.RULE_general_element_part
        && state.stateType === STAR_LOOP_ENTRY) argumentLoop = decision;
    });
  }
  return argumentLoop;
}

function newParser(text, collector) {
  const lexer = new PlSqlLexer(new CharStream(text));
  lexer.removeErrorListeners();
  if (collector) lexer.addErrorListener(collector);
  const tokens = new CommonTokenStream(lexer);
  const parser = new PlSqlParser(tokens);
  parser.removeErrorListeners();
  if (collector) parser.addErrorListener(collector);
  return { tokens, parser };
}

function fastParse(text, mode) {
  const { tokens, parser } = newParser(text, null);
  parser._interp.predictionMode = mode;
  parser._errHandler = new BailErrorStrategy();
  const interp = parser._interp;
  const predict = interp.adaptivePredict.bind(interp);
  const loop = argumentLoopDecision(parser);
  interp.adaptivePredict = (input, decision, context) => {
    if (decision === loop) return input.LA(1) === PlSqlParser.LEFT_PAREN ? 1 : 2;
    return predict(input, decision, context);
  };
  try {
    const tree = parser.sql_script();
    return { tree, visible: visibleTokens(tokens), errors: [], stage: mode === PredictionMode.SLL ? 1 : 2 };
  } catch {
    return null;
  }
}

export const parseStats = { 1: 0, 2: 0, 3: 0 };

export function parse(text) {
  if (process.env.SQLPARSE_PLAIN !== '1') {
    for (const mode of [PredictionMode.SLL, PredictionMode.LL]) {
      const result = fastParse(text, mode);
      if (result) {
        parseStats[result.stage] += 1;
        return result;
      }
    }
  }
  const collector = new Collector();
  const { tokens, parser } = newParser(text, collector);
  const tree = parser.sql_script();
  parseStats[3] += 1;
  return { tree, visible: visibleTokens(tokens), errors: collector.errors, stage: 3 };
}

export const WORD = (t) => (t ? t.text.toUpperCase() : '');

// What a unit is, from its first words: "block" (anonymous block or stored PL/SQL unit, which
// Oracle needs to end with ';'), "type" (CREATE TYPE spec: ';' optional), or "sql".
export function unitKind(visible) {
  let i = 0;
  const first = WORD(visible[0]);
  if (first === 'BEGIN' || first === 'DECLARE' || first === '<') return 'block';
  if (first !== 'CREATE') return 'sql';
  i = 1;
  if (WORD(visible[i]) === 'OR' && WORD(visible[i + 1]) === 'REPLACE') i += 2;
  while (['EDITIONABLE', 'NONEDITIONABLE', 'EDITIONING', 'NONEDITIONING'].includes(WORD(visible[i]))) i += 1;
  const what = WORD(visible[i]);
  if (what === 'TYPE') return WORD(visible[i + 1]) === 'BODY' ? 'block' : 'type';
  if (['PACKAGE', 'PROCEDURE', 'FUNCTION', 'TRIGGER'].includes(what)) return 'block';
  return 'sql';
}

// Problems in one piece of text, with positions relative to that text (line 1, column 0 based).
// `onTree(tree, visible, line, column, dynamic)`, when given, receives every tree that parsed (the
// statement's, then those of its dynamic statements) with where its text starts in the statement.
export function check(text, kind, onTree = null, where = { line: 1, column: 0, dynamic: false }) {
  const { tree, visible, errors } = parse(text);
  if (errors.length > 0) {
    const first = errors[0];
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more error(s) after it)` : '';
    const open = openSubprogram(visible, first.line, first.column);
    const inside = open ? ` [inside ${open.name}, opened ${first.line - open.line} line(s) above: is its END missing?]` : '';
    return [{ line: first.line, column: first.column, message: `${first.message}${more}${inside}` }];
  }
  const problems = [];
  const last = visible[visible.length - 1];
  const units = tree.unit_statement_list().length;
  const plus = tree.sql_plus_command_list().length;
  if (visible.length === 0) {
    problems.push({ line: 1, column: 0, message: 'empty statement' });
  } else if (units !== 1 || plus !== 0) {
    const second = (tree.children ?? []).filter((c) => c instanceof ParserRuleContext)[1]?.start ?? last;
    problems.push({
      line: second.line,
      column: second.column,
      message: `one statement expected, found ${units + plus}: a missing '/' after a PL/SQL unit, or a stray ';'?`,
    });
  } else if (kind) {
    // `kind` is how the script parser sent the text: "sql" texts lost their terminator ';'.
    const endsWithSemicolon = last.type === PlSqlLexer.SEMICOLON;
    if (kind === 'sql' && endsWithSemicolon) {
      problems.push({
        line: last.line,
        column: last.column,
        message: "SQL statement text ends with ';': Oracle rejects it (ORA-00933/ORA-00911)",
      });
    } else if (unitKind(visible) === 'block' && !endsWithSemicolon) {
      problems.push({
        line: last.line,
        column: last.column,
        message: "PL/SQL unit does not end with ';' after its END: Oracle rejects it (PLS-00103)",
      });
    }
  }
  if (onTree) onTree(tree, visible, where.line, where.column, where.dynamic);
  for (const literal of dynamicStatements(visible)) {
    const inner = {
      line: where.line + literal.line - 1,
      column: literal.line === 1 ? where.column + literal.column : literal.column,
      dynamic: true,
    };
    for (const p of check(literal.content, literal.kind, onTree, inner)) {
      problems.push({
        line: literal.line + p.line - 1,
        column: p.line === 1 ? literal.column + p.column : p.column,
        message: `in dynamic statement: ${p.message}`,
      });
    }
  }
  return problems;
}

// The innermost PROCEDURE/FUNCTION body still open (no `END name` yet) before line:column, so an
// error the parser reports at the next subprogram also names the one whose END is missing.
export function openSubprogram(visible, line, column) {
  const stack = [];
  const before = (t) => t.line < line || (t.line === line && t.column < column);
  for (let i = 0; i < visible.length; i += 1) {
    const t = visible[i];
    if (!before(t)) break;
    const word = WORD(t);
    if ((word === 'PROCEDURE' || word === 'FUNCTION') && identifierAt(visible, i + 1)) {
      let depth = 0;
      for (let k = i + 2; k < visible.length; k += 1) {
        const type = visible[k].type;
        if (type === PlSqlLexer.LEFT_PAREN) depth += 1;
        else if (type === PlSqlLexer.RIGHT_PAREN) depth -= 1;
        else if (depth === 0 && type === PlSqlLexer.SEMICOLON) break;
        else if (depth === 0 && ['IS', 'AS'].includes(WORD(visible[k]))) {
          if (before(visible[k])) stack.push({ name: identifierAt(visible, i + 1), line: t.line });
          break;
        }
      }
    } else if (word === 'END' && identifierAt(visible, i + 1)) {
      const name = identifierAt(visible, i + 1);
      const at = stack.map((x) => x.name).lastIndexOf(name);
      if (at >= 0) stack.splice(at);
    }
  }
  return stack[stack.length - 1] ?? null;
}

// The text of a string literal token and where that text starts in the statement.
export function unquote(token) {
  const raw = token.text;
  if (/^[nN]?[qQ]'/.test(raw)) {
    const prefix = raw.indexOf("'") + 2; // q'[ or nq'[
    return { content: raw.slice(prefix, raw.length - 2), offset: prefix };
  }
  const prefix = raw.indexOf("'") + 1;
  return { content: raw.slice(prefix, raw.length - 1).replaceAll("''", "'"), offset: prefix };
}

export function isLiteral(token) {
  return token && (token.type === PlSqlLexer.CHAR_STRING || token.type === PlSqlLexer.NATIONAL_CHAR_STRING_LIT);
}

function isConcatenation(a, b) {
  return a && b && a.type === PlSqlLexer.BAR && b.type === PlSqlLexer.BAR;
}

const DDL_PARAMETER = /DDL$/;

// Positions (0-based) of the parameters whose name ends in "ddl", by subprogram: keyed by
// "PROC" and "PKG.PROC". Filled from every PROCEDURE/FUNCTION header among the input statements,
// so a literal passed positionally to such a parameter is parsed as well.
export const ddlPositions = new Map();

export function identifierAt(visible, i) {
  const t = visible[i];
  return t && /^[A-Za-z"]/.test(t.text) ? t.text.replaceAll('"', '').toUpperCase() : null;
}

export function collectDdlParameters(visible) {
  let unit = null;
  if (WORD(visible[0]) === 'CREATE') {
    const at = visible.findIndex((t) => ['PACKAGE', 'TYPE'].includes(WORD(t)));
    let i = at + (WORD(visible[at + 1]) === 'BODY' ? 2 : 1);
    if (at >= 0) {
      while (visible[i + 1]?.type === PlSqlLexer.PERIOD) i += 2; // schema.name
      unit = identifierAt(visible, i);
    }
  }
  for (let j = 0; j < visible.length; j += 1) {
    if (!['PROCEDURE', 'FUNCTION'].includes(WORD(visible[j]))) continue;
    let k = j + 1;
    while (visible[k + 1]?.type === PlSqlLexer.PERIOD) k += 2;
    const name = identifierAt(visible, k);
    if (!name || visible[k + 1]?.type !== PlSqlLexer.LEFT_PAREN) continue;
    let depth = 0;
    let position = 0;
    let expectName = true;
    for (let m = k + 1; m < visible.length; m += 1) {
      const type = visible[m].type;
      if (type === PlSqlLexer.LEFT_PAREN) depth += 1;
      else if (type === PlSqlLexer.RIGHT_PAREN && --depth === 0) break;
      else if (type === PlSqlLexer.COMMA && depth === 1) {
        position += 1;
        expectName = true;
      } else if (expectName && depth === 1) {
        expectName = false;
        if (DDL_PARAMETER.test(WORD(visible[m]))) {
          for (const key of unit ? [name, `${unit}.${name}`] : [name]) {
            if (!ddlPositions.has(key)) ddlPositions.set(key, new Set());
            ddlPositions.get(key).add(position);
          }
        }
      }
    }
  }
}

// Is visible[i] a whole positional argument bound to a "...ddl" parameter of a known subprogram?
export function isPositionalDdl(visible, i) {
  const before = visible[i - 1]?.type;
  const after = visible[i + 1]?.type;
  if (![PlSqlLexer.LEFT_PAREN, PlSqlLexer.COMMA].includes(before)) return false;
  if (![PlSqlLexer.RIGHT_PAREN, PlSqlLexer.COMMA].includes(after)) return false;
  let depth = 0;
  let position = 0;
  let open = -1;
  for (let k = i - 1; k >= 0; k -= 1) {
    const type = visible[k].type;
    if (type === PlSqlLexer.RIGHT_PAREN) depth += 1;
    else if (type === PlSqlLexer.LEFT_PAREN) {
      if (depth === 0) {
        open = k;
        break;
      }
      depth -= 1;
    } else if (type === PlSqlLexer.COMMA && depth === 0) position += 1;
  }
  const name = identifierAt(visible, open - 1);
  if (open < 1 || !name) return false;
  const owner = visible[open - 2]?.type === PlSqlLexer.PERIOD ? identifierAt(visible, open - 3) : null;
  const positions = ddlPositions.get(owner ? `${owner}.${name}` : name);
  return positions !== undefined && positions.has(position);
}

// Complete dynamic statements written as one literal (a concatenated literal is only a fragment):
// the operand of EXECUTE IMMEDIATE, or an argument for a parameter named "...ddl".
export function* dynamicStatements(visible) {
  for (let i = 0; i < visible.length; i += 1) {
    const token = visible[i];
    if (!isLiteral(token) || isConcatenation(visible[i + 1], visible[i + 2])) continue;
    if (isConcatenation(visible[i - 1], visible[i - 2])) continue;
    const previous = visible[i - 1];
    const byImmediate = WORD(previous) === 'IMMEDIATE' && WORD(visible[i - 2]) === 'EXECUTE';
    const arrow =
      previous && previous.type === PlSqlLexer.GREATER_THAN_OP && visible[i - 2]?.type === PlSqlLexer.EQUALS_OP
        && visible[i - 2].stop + 1 === previous.start;
    const byName = arrow && DDL_PARAMETER.test(WORD(visible[i - 3]));
    if (!byImmediate && !byName && !isPositionalDdl(visible, i)) continue;
    const { content, offset } = unquote(token);
    if (content.trim() === '') continue;
    yield {
      content,
      kind: unitKind(lex(content)) === 'sql' ? 'sql' : 'plsql',
      line: token.line,
      column: token.column + offset,
    };
  }
}

