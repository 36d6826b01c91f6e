// Parses every LogQL query of the Grafana dashboard (its Loki targets) and
// of README.md's ```logql blocks with Grafana's own LogQL grammar (the one
// Grafana's query editor uses, written from Loki's syntax.y), and fails on
// the first that does not parse. A syntax check only: no Loki runs here.
//
//   node check.mjs DASHBOARD.json README.md
import { readFileSync } from 'node:fs';
import { parser } from '@grafana/lezer-logql';

// Grafana replaces its variables before Loki sees a query.
function expand(expr) {
  return expr
    .replaceAll('$__auto', '1m')
    .replaceAll('$__interval', '1m')
    .replaceAll('$__range', '1h')
    .replace(/\$\{?domain\}?/g, 'my\\\\.domain');
}

function queriesOf(path) {
  const text = readFileSync(path, 'utf8');
  if (path.endsWith('.json')) {
    const out = [];
    for (const panel of JSON.parse(text).panels ?? []) {
      for (const t of panel.targets ?? []) {
        if (t.datasource?.type === 'loki') out.push({ where: `${path}: "${panel.title}" ${t.refId}`, expr: t.expr });
      }
    }
    return out;
  }
  // Markdown: every line of a ```logql block is one query.
  const out = [];
  for (const m of text.matchAll(/```logql\n([\s\S]*?)```/g)) {
    for (const line of m[1].split('\n')) {
      if (line.trim() !== '' && !line.trim().startsWith('#')) out.push({ where: path, expr: line.trim() });
    }
  }
  return out;
}

// errorsIn lists where the grammar had to recover: lezer parses anything,
// marking what does not fit with error nodes.
function errorsIn(expr) {
  const errors = [];
  parser.parse(expr).iterate({
    enter(node) {
      if (node.type.isError) errors.push(node.from);
    },
  });
  return errors;
}

let failed = 0;
let checked = 0;
for (const path of process.argv.slice(2)) {
  const queries = queriesOf(path);
  if (queries.length === 0) {
    console.error(`${path}: no LogQL query found`);
    failed++;
  }
  for (const q of queries) {
    checked++;
    const expr = expand(q.expr);
    const errors = errorsIn(expr);
    if (errors.length > 0) {
      failed++;
      console.error(`${q.where}: LogQL does not parse at offset ${errors[0]}:\n  ${expr}\n  ${' '.repeat(errors[0])}^`);
    }
  }
}
console.log(`logql: ${checked} queries parsed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
