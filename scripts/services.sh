# Makes sure PostgreSQL (127.0.0.1:5432, user postgres) and Redis (127.0.0.1:6379) are running,
# installing them from Debian's packages when missing. Sourced by scripts/run, scripts/test and
# .ci/run; safe to run again when both are already up.

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# Runs a command as the postgres system user.
as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for_port() {
  for _ in $(seq 1 60); do
    if port_open "$1"; then return 0; fi
    sleep 0.5
  done
  echo "nothing is listening on 127.0.0.1:$1 after 30 s" >&2
  return 1
}

apt_install() {
  echo "installing $* from Debian's packages" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

ensure_postgres() {
  if ! port_open 5432; then
    if ! command -v pg_ctlcluster >/dev/null 2>&1; then
      apt_install postgresql
    fi
    local version
    version="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1 || true)"
    if [ -z "$version" ]; then
      version="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
      $SUDO pg_createcluster "$version" main >/dev/null
    fi
    if ! $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start; then
      echo "PostgreSQL $version did not start; see /var/log/postgresql/" >&2
      return 1
    fi
    wait_for_port 5432
  fi
  if ! command -v psql >/dev/null 2>&1; then
    apt_install postgresql-client
  fi
  # A packaged PostgreSQL asks for passwords over TCP; this is a development or test machine,
  # so let local TCP connections in as on the CI machine (trust on 127.0.0.1 only).
  if ! psql "postgres://postgres@127.0.0.1:5432/postgres" -qtAc 'SELECT 1' >/dev/null 2>&1; then
    local hba
    hba="$(as_postgres psql -qtAc 'SHOW hba_file' 2>/dev/null || true)"
    if [ -n "$hba" ]; then
      echo "WARNING: PostgreSQL asks for a password on 127.0.0.1; for local development and" >&2
      echo "WARNING: tests this script now trusts local TCP connections in $hba" >&2
      $SUDO sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
      as_postgres psql -qtAc 'SELECT pg_reload_conf()' >/dev/null
      sleep 1
    fi
    psql "postgres://postgres@127.0.0.1:5432/postgres" -qtAc 'SELECT 1' >/dev/null
  fi
}

ensure_redis() {
  # The Redis-over-TLS test starts a redis-server of its own (Debian's is built with TLS), so the
  # binary is needed even when a Redis already answers on 6379.
  if ! command -v redis-server >/dev/null 2>&1; then
    apt_install redis-server
  fi
  if port_open 6379; then return 0; fi
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
  wait_for_port 6379
}

ensure_rust() {
  if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo is missing: install Rust 1.88 or newer from https://rustup.rs" >&2
    return 1
  fi
  # A minimal rustup profile lacks the formatter and linter CI runs.
  if command -v rustup >/dev/null 2>&1; then
    if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
      rustup component add rustfmt clippy
    fi
  fi
}

# Debian's Chromium and Node.js for the browser tests (e2e/); never a downloaded browser.
ensure_browser() {
  local missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  if [ "${#missing[@]}" -gt 0 ]; then apt_install "${missing[@]}"; fi
}
