#!/usr/bin/env bash
# Refreshes the GraphiQL page's browser assets in assets/graphiql/ from pinned npm packages, so
# the page served on GET /graphql loads nothing from a CDN and runs React's production builds.
# Installs the pinned versions into a temporary directory, copies the browser-ready bundles, and
# writes assets/graphiql/LICENSES.txt. index.html and init.js there are ours and are left alone.
# Usage: scripts/refresh-graphiql-assets.sh   (needs node and npm; reaches only the npm registry)
set -euo pipefail

# graphiql 4.1.x is the last line that ships a standalone UMD bundle (global `GraphiQL`, React
# and ReactDOM taken from globals); 5.x ships ES modules only. React 19 has no UMD builds, so
# React stays on 18. graphql is not shipped on its own (graphiql.min.js bundles graphql 16.11.0);
# it is pinned only so the install resolves the peer dependency the same way every time.
GRAPHIQL_VERSION=4.1.2
REACT_VERSION=18.3.1
REACT_DOM_VERSION=18.3.1
GRAPHQL_WS_VERSION=6.4.2
GRAPHQL_VERSION=16.11.0

cd "$(dirname "$0")/.."
dest=assets/graphiql
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

command -v npm >/dev/null || { echo "npm is required" >&2; exit 1; }
command -v node >/dev/null || { echo "node is required" >&2; exit 1; }

npm install --prefix "$tmp" --save-exact --no-audit --no-fund --loglevel=error \
  "graphiql@$GRAPHIQL_VERSION" \
  "react@$REACT_VERSION" \
  "react-dom@$REACT_DOM_VERSION" \
  "graphql-ws@$GRAPHQL_WS_VERSION" \
  "graphql@$GRAPHQL_VERSION" >/dev/null

nm="$tmp/node_modules"
# Each shipped file: <package> <path inside the package> <name under assets/graphiql/>.
files=(
  "graphiql graphiql.min.js graphiql.min.js"
  "graphiql graphiql.min.css graphiql.min.css"
  "react umd/react.production.min.js react.production.min.js"
  "react-dom umd/react-dom.production.min.js react-dom.production.min.js"
  "graphql-ws umd/graphql-ws.min.js graphql-ws.min.js"
)

# Check everything before touching assets/graphiql/.
for f in "${files[@]}"; do
  read -r pkg path _ <<<"$f"
  [ -f "$nm/$pkg/$path" ] || { echo "$pkg has no $path" >&2; exit 1; }
done
for pv in "graphiql $GRAPHIQL_VERSION" "react $REACT_VERSION" "react-dom $REACT_DOM_VERSION" \
          "graphql-ws $GRAPHQL_WS_VERSION"; do
  read -r pkg want <<<"$pv"
  got=$(node -p "require(process.argv[1]).version" "$nm/$pkg/package.json")
  [ "$got" = "$want" ] || { echo "$pkg: installed $got, pinned $want" >&2; exit 1; }
done
# The page must load nothing from another host: no remote url(...) or @import in the CSS.
if grep -Eiq "url\(\s*['\"]?\s*(https?:)?//|@import" "$nm/graphiql/graphiql.min.css"; then
  echo "graphiql.min.css refers to another host" >&2
  exit 1
fi

mkdir -p "$dest"
for f in "${files[@]}"; do
  read -r pkg path name <<<"$f"
  cp "$nm/$pkg/$path" "$dest/$name"
done

# LICENSES.txt: the shipped packages first, then every other package of the installed tree
# (graphiql.min.js compiles in code from graphiql's dependencies, react-dom's UMD build includes
# scheduler). That second list is a superset of what is bundled, as npm resolves it today.
node - "$nm" "$dest/LICENSES.txt" <<'EOF'
const fs = require('fs');
const path = require('path');
const [nm, out] = process.argv.slice(2);
const shipped = {
  graphiql: ['graphiql.min.js', 'graphiql.min.css'],
  react: ['react.production.min.js'],
  'react-dom': ['react-dom.production.min.js'],
  'graphql-ws': ['graphql-ws.min.js'],
};

// Every package directory under node_modules, nested ones included.
function packages(dir, acc = []) {
  if (!fs.existsSync(dir)) return acc;
  for (const entry of fs.readdirSync(dir).sort()) {
    if (entry.startsWith('.')) continue;
    const p = path.join(dir, entry);
    if (entry.startsWith('@')) { packages(p, acc); continue; }
    if (fs.existsSync(path.join(p, 'package.json'))) {
      acc.push(p);
      packages(path.join(p, 'node_modules'), acc);
    }
  }
  return acc;
}

function licenceOf(dir) {
  const meta = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  const files = fs.readdirSync(dir)
    .filter((f) => /^(licen[cs]e|copying)([.-].*)?$/i.test(f) && fs.statSync(path.join(dir, f)).isFile())
    .sort();
  const spdx = typeof meta.license === 'string' ? meta.license
    : meta.license && meta.license.type ? meta.license.type : 'UNKNOWN';
  const texts = files.map((f) => `--- ${f} ---\n${fs.readFileSync(path.join(dir, f), 'utf8').trimEnd()}\n`);
  return { name: meta.name, version: meta.version, spdx, texts };
}

// In part 2, a licence text already written out in full (Apache-2.0 recurs verbatim) is referred to.
const printed = new Map();
function section(l, extra, full) {
  const head = `${l.name}@${l.version} (${l.spdx})${extra ? `\n${extra}` : ''}`;
  const joined = l.texts.join('\n');
  let body;
  if (!l.texts.length) {
    body = `(the package has no licence file; its package.json declares "${l.spdx}")\n`;
  } else if (!full && printed.has(joined)) {
    body = `(licence file identical to the one of ${printed.get(joined)} above)\n`;
  } else {
    printed.set(joined, `${l.name}@${l.version}`);
    body = joined;
  }
  return `${'='.repeat(78)}\n${head}\n${'='.repeat(78)}\n${body}`;
}

const all = packages(nm).map(licenceOf);
const missing = Object.keys(shipped).filter((n) => !all.some((l) => l.name === n && l.texts.length));
if (missing.length) { console.error(`no licence file in: ${missing.join(', ')}`); process.exit(1); }

const seen = new Set();
const rest = all.filter((l) => !(l.name in shipped))
  .filter((l) => { const k = `${l.name}@${l.version}`; if (seen.has(k)) return false; seen.add(k); return true; })
  .sort((a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version));

let text = 'Third-party software in assets/graphiql/ (generated by scripts/refresh-graphiql-assets.sh;\n'
  + 'do not edit). index.html and init.js are part of ponto-bridge.\n\n'
  + 'Part 1: the packages whose files are shipped here.\n\n';
for (const name of Object.keys(shipped)) {
  const l = all.find((x) => x.name === name && x.texts.length);
  text += section(l, `files: ${shipped[name].join(', ')}`, true) + '\n';
}
text += '\nPart 2: the rest of the installed dependency tree. Code from these packages is compiled\n'
  + 'into graphiql.min.js (graphql, CodeMirror, Radix UI, markdown-it, ...) and\n'
  + 'react-dom.production.min.js (scheduler); the list may include a few that are not.\n\n';
for (const l of rest) text += section(l) + '\n';
fs.writeFileSync(out, text);
EOF

echo "assets/graphiql/ refreshed: graphiql@$GRAPHIQL_VERSION react@$REACT_VERSION react-dom@$REACT_DOM_VERSION graphql-ws@$GRAPHQL_WS_VERSION"
( cd "$dest" && ls -l -- *.js *.css LICENSES.txt | awk '{printf "  %10d  %s\n", $5, $9}' )
