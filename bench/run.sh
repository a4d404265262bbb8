#!/usr/bin/env bash
# Gatehouse load harness: Gatehouse, npm oidc-provider 9 (the reference
# OpenID Provider) and a stateless "ceiling" handler side by side, driven by
# wrk in alternating rounds. See bench/README.md.
#
#   bash bench/run.sh
#
# Environment:
#   DURATION=10s     length of one wrk run
#   CONNECTIONS=32   wrk connections
#   THREADS=2        wrk threads
#   ROUNDS=3         rounds; each round runs every endpoint on every server
#   WARMUP=2s        one unmeasured run per endpoint and server first (0: none)
#   BACKEND=sqlite   or postgres (a database is created and dropped)
#   GATEHOUSE_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres
#                    server to create the bench database on (BACKEND=postgres)
#   FLOWS=1          also measure the authorization-code flow (RS256, ES256
#                    and EdDSA ID tokens) and the SSO flow (Gatehouse only)
#   SCALE_ROWS=0     > 0: a second Gatehouse on a database holding that many
#                    live grants; token and introspection are measured on
#                    both and compared
#   SKIP_BUILD=1     use the existing release binaries
#   GATEHOUSE_BIN=   another gatehouse binary to measure (e.g. an older build)
#   LOG_LEVEL=warn   the served instances' GATEHOUSE_LOG; `info` (the
#                    server's default) writes an access line per request
#   SMAPS_DIR=       copy Gatehouse's /proc/PID/smaps there after the
#                    endpoints and after the flows (where memory is)
set -Eeuo pipefail

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-2s}
BACKEND=${BACKEND:-sqlite}
FLOWS=${FLOWS:-1}
SCALE_ROWS=${SCALE_ROWS:-0}
LOG_LEVEL=${LOG_LEVEL:-warn}
PG_URL=${GATEHOUSE_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GH_BIN=${GATEHOUSE_BIN:-$ROOT/target/release/gatehouse}
CEILING_BIN=$ROOT/target/release/bench-ceiling
OP_DIR=$ROOT/tests/js-op

die() { echo "bench: $*" >&2; exit 1; }
note() { echo "bench: $*" >&2; }

[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS=$ROUNDS: expected a positive number"
[[ $CONNECTIONS =~ ^[1-9][0-9]*$ ]] || die "CONNECTIONS=$CONNECTIONS: expected a positive number"
[[ $THREADS =~ ^[1-9][0-9]*$ ]] || die "THREADS=$THREADS: expected a positive number"
((THREADS <= CONNECTIONS)) || die "THREADS ($THREADS) must not exceed CONNECTIONS ($CONNECTIONS)"
case $BACKEND in sqlite | postgres) ;; *) die "BACKEND=$BACKEND: expected sqlite or postgres" ;; esac
case $FLOWS in 0 | 1) ;; *) die "FLOWS=$FLOWS: expected 0 or 1" ;; esac
[[ $SCALE_ROWS =~ ^[0-9]+$ ]] || die "SCALE_ROWS=$SCALE_ROWS: expected a number"

# ---------------------------------------------------------------- cleanup
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-bench.XXXXXX")
PIDS=()
PG_DBS=()
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    local db
    for db in "${PG_DBS[@]}"; do
        psql "$PG_URL" -v ON_ERROR_STOP=1 -qXc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 ||
            note "could not drop database $db on $PG_URL; drop it by hand"
    done
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- tools
if ! command -v wrk >/dev/null; then
    note "wrk is missing; installing the Debian package"
    SUDO=""
    if [[ $(id -u) != 0 ]]; then command -v sudo >/dev/null && SUDO=sudo || die "install wrk (apt-get install wrk)"; fi
    $SUDO apt-get install -y -qq wrk >/dev/null 2>&1 ||
        { $SUDO apt-get update -qq >/dev/null && $SUDO apt-get install -y -qq wrk >/dev/null; } ||
        die "could not install wrk"
fi
for tool in curl node python3; do command -v "$tool" >/dev/null || die "$tool is required"; done
[[ $BACKEND == postgres ]] && { command -v psql >/dev/null || die "psql is required for BACKEND=postgres"; }

if [[ ! -f $OP_DIR/node_modules/oidc-provider/package.json ]]; then
    note "installing oidc-provider (npm ci --prefix tests/js-op)"
    npm ci --prefix "$OP_DIR" --no-audit --no-fund --loglevel=error >/dev/null || die "npm ci failed"
fi

if [[ -z ${SKIP_BUILD:-} ]]; then
    note "building release binaries (cargo build --release)"
    (cd "$ROOT" && cargo build --release --quiet -p gatehouse -p gatehouse-bench-ceiling --bins) ||
        die "cargo build failed"
fi
[[ -x $GH_BIN ]] || die "$GH_BIN is missing (cargo build --release)"
[[ -x $CEILING_BIN ]] || die "$CEILING_BIN is missing (cargo build --release -p gatehouse-bench-ceiling)"

# ---------------------------------------------------------------- helpers
# A JSON member of stdin (string or number), or exit 1.
json_get() {
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s)[process.argv[1]];
             if(v===undefined||v===null){process.exit(1)}console.log(typeof v==="object"?JSON.stringify(v):v)})' "$1"
}

free_port() {
    local p
    for _ in $(seq 100); do
        p=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
    done
    die "no free port found"
}

# Waits until URL answers 2xx while PID lives; LOG is shown on failure.
wait_ready() {
    local name=$1 url=$2 pid=$3 log=$4
    for _ in $(seq 300); do
        curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; die "$name exited during start-up"; }
        sleep 0.1
    done
    cat "$log" >&2
    die "$name was not ready at $url after 30s"
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }

# Gatehouse with only the bench's GATEHOUSE_* variables (any other one, such
# as GATEHOUSE_BENCH_POSTGRES_URL, would be read as a configuration key), and
# without the production plugins `cargo build --release` puts next to it:
# the figures are for the core, as the issue's baseline was.
# It execs: call it in a subshell, $(…) or with &. DB_URL and DATA_DIR say
# which instance.
AREA=https://billing.example
gatehouse() {
    local v unset_args=()
    for v in $(compgen -e); do [[ $v == GATEHOUSE_* ]] && unset_args+=(-u "$v"); done
    exec env "${unset_args[@]}" \
        GATEHOUSE_DATABASE_URL="$DB_URL" GATEHOUSE_DATA_DIR="$DATA_DIR" GATEHOUSE_CLIENT_AREA_URL="$AREA" \
        GATEHOUSE_LOG="${SERVE_LOG:-warn}" GATEHOUSE_MASTER_KEY=bench GATEHOUSE_DEFAULT_PLUGINS=false "$GH_BIN" "$@"
}

# POST a form with Basic credentials; prints the body, fails on non-2xx.
post_form() { curl -fsS -H "Authorization: $2" -H 'Accept: application/json' --data "$3" "$1"; }

# ---------------------------------------------------------------- Gatehouse
mkdir -p "$WORK/wrk"

# A new empty database for instance NAME in DB_URL.
new_database() {
    local name=$1
    case $BACKEND in
    sqlite) DB_URL=$WORK/$name.db ;;
    postgres)
        local db="gatehouse_bench_$$_${RANDOM}_$name" base=${PG_URL%%\?*}
        local query=${PG_URL#"$base"} rest=${base#*://}
        psql "$PG_URL" -v ON_ERROR_STOP=1 -qXc "CREATE DATABASE \"$db\"" >/dev/null ||
            die "cannot create a database on $PG_URL (set GATEHOUSE_BENCH_POSTGRES_URL)"
        PG_DBS+=("$db")
        DB_URL="${base%%://*}://${rest%%/*}/$db$query"
        ;;
    esac
}

# Sets up instance NAME (database, client): sets DB_URL, DATA_DIR and
# CLIENT_ID/CLIENT_SECRET of its client_credentials client.
setup_instance() {
    local name=$1
    DATA_DIR=$WORK/$name-data
    mkdir -p "$DATA_DIR"
    new_database "$name"
    (gatehouse --json migrate) >"$WORK/$name-migrate.json" 2>"$WORK/$name-migrate.err" ||
        { cat "$WORK/$name-migrate.err" >&2; die "gatehouse migrate failed"; }
    (gatehouse --json client add --name bench --grant client_credentials --scope "") >"$WORK/$name-client.json" 2>&1 ||
        { cat "$WORK/$name-client.json" >&2; die "gatehouse client add failed"; }
    CLIENT_ID=$(json_get client_id <"$WORK/$name-client.json") || die "no client_id in: $(cat "$WORK/$name-client.json")"
    CLIENT_SECRET=$(json_get client_secret <"$WORK/$name-client.json") || die "no client_secret in: $(cat "$WORK/$name-client.json")"
}

# Starts instance NAME (set up before); sets PORT and PID.
start_instance() {
    local name=$1
    PORT=$(free_port)
    SERVE_LOG=$LOG_LEVEL gatehouse serve --bind "127.0.0.1:$PORT" >"$WORK/$name.log" 2>&1 &
    PID=$!
    PIDS+=("$PID")
    wait_ready "Gatehouse ($name)" "http://127.0.0.1:$PORT/readyz" "$PID" "$WORK/$name.log"
}

setup_instance gatehouse
GH_DB_URL=$DB_URL GH_DATA_DIR=$DATA_DIR GH_CLIENT_ID=$CLIENT_ID GH_CLIENT_SECRET=$CLIENT_SECRET

# The flows' user, account and clients: three authorization-code clients
# that differ only in their ID token algorithm, and an SSO client.
FLOW_ENDPOINTS=()
if ((FLOWS)); then
    FLOW_PASSWORD=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
    (gatehouse --json user add --email flows@bench.example --name "Bench Member" --password-stdin <<<"$FLOW_PASSWORD") \
        >"$WORK/flow-user.json" 2>&1 || { cat "$WORK/flow-user.json" >&2; die "gatehouse user add failed"; }
    (gatehouse --json account add --owner flows@bench.example --name Bench) >"$WORK/flow-account.json" 2>&1 ||
        { cat "$WORK/flow-account.json" >&2; die "gatehouse account add failed"; }
    FLOW_ACCOUNT=$(json_get id <"$WORK/flow-account.json") || die "no account id in $(cat "$WORK/flow-account.json")"
    FLOW_REDIRECT=https://app.bench.example/cb
    declare -A FLOW_AUTH FLOW_CLIENT
    for alg in RS256 ES256 EdDSA; do
        f=$WORK/flow-client-$alg.json
        (gatehouse --json client add --name "code $alg" --grant authorization_code --redirect-uri "$FLOW_REDIRECT" \
            --scope "openid profile email" --first-party --id-token-alg "$alg") >"$f" 2>&1 ||
            { cat "$f" >&2; die "gatehouse client add ($alg) failed"; }
        FLOW_CLIENT[$alg]=$(json_get client_id <"$f") || die "no client_id in $(cat "$f")"
        FLOW_AUTH[$alg]="Basic $(printf '%s:%s' "${FLOW_CLIENT[$alg]}" "$(json_get client_secret <"$f")" | base64 -w0)"
        FLOW_ENDPOINTS+=("code-$alg")
    done
    f=$WORK/flow-client-sso.json
    (gatehouse --json client add --name sso --grant single_sign_on --redirect-uri "$FLOW_REDIRECT" \
        --scope "clientarea:sso clientarea:invoices" --account "$FLOW_ACCOUNT") >"$f" 2>&1 ||
        { cat "$f" >&2; die "gatehouse client add (sso) failed"; }
    FLOW_AUTH[sso]="Basic $(printf '%s:%s' "$(json_get client_id <"$f")" "$(json_get client_secret <"$f")" | base64 -w0)"
    FLOW_ENDPOINTS+=(sso)
fi

DB_URL=$GH_DB_URL DATA_DIR=$GH_DATA_DIR
start_instance gatehouse
GH_PORT=$PORT GH_PID=$PID
GH=http://127.0.0.1:$GH_PORT

# ---------------------------------------------------------------- Gatehouse on a full table
# Live access tokens of the bench client, shaped as Gatehouse writes them
# (time-prefixed digest keys, issued before the run at 10 per millisecond),
# inserted in one statement before the server starts.
prefill() {
    local rows=$1 client=$2 now_s now_ms
    now_s=$(date +%s) now_ms=$(($(date +%s%N) / 1000000))
    local start_ms=$((now_ms - rows / 10 - 60000))
    case $BACKEND in
    sqlite)
        python3 - "$DB_URL" "$rows" "$client" "$now_s" "$start_ms" <<'PY' || die "prefill failed"
import sqlite3, sys
path, rows, client, now, start = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
db = sqlite3.connect(path, isolation_level=None)
db.execute("PRAGMA journal_mode=WAL")
db.execute("BEGIN")
db.execute("""
    WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?1)
    INSERT INTO grants (kind, digest, client_id, scope, data, created_at, expires_at)
    SELECT 'access', printf('%012x', ?4 + i / 10) || lower(hex(randomblob(32))), ?2, '', '{}', ?3 - 60, ?3 + 31536000
    FROM n""", (rows, client, now, start))
db.execute("COMMIT")
db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
PY
        ;;
    postgres)
        psql "$DB_URL" -v ON_ERROR_STOP=1 -qX >/dev/null <<SQL || die "prefill failed"
INSERT INTO grants (kind, digest, client_id, scope, data, created_at, expires_at)
SELECT 'access', lpad(to_hex($start_ms + i / 10), 12, '0') || md5(random()::text) || md5(random()::text),
       '$client', '', '{}', $now_s - 60, $now_s + 31536000
FROM generate_series(0, $rows - 1) AS i;
VACUUM ANALYZE grants;
SQL
        ;;
    esac
}

if ((SCALE_ROWS > 0)); then
    setup_instance full
    BIG_CLIENT_ID=$CLIENT_ID BIG_CLIENT_SECRET=$CLIENT_SECRET
    note "filling the second Gatehouse's grants table with $SCALE_ROWS live tokens"
    t0=$(date +%s)
    prefill "$SCALE_ROWS" "$BIG_CLIENT_ID"
    note "filled in $(($(date +%s) - t0)) s"
    start_instance full
    BIG_PID=$PID BIG=http://127.0.0.1:$PORT
fi

# ---------------------------------------------------------------- oidc-provider
OP_CLIENT_ID=bench
OP_CLIENT_SECRET=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
OP_PORT=$(free_port)
NODE_ENV=production node "$ROOT/bench/op-bench.mjs" "$OP_PORT" "$OP_CLIENT_ID" "$OP_CLIENT_SECRET" \
    >"$WORK/op.log" 2>&1 &
OP_PID=$!
PIDS+=("$OP_PID")
OP=http://127.0.0.1:$OP_PORT
wait_ready oidc-provider "$OP/.well-known/openid-configuration" "$OP_PID" "$WORK/op.log"

# ---------------------------------------------------------------- ceiling
# It serves Gatehouse's own discovery and JWKS bytes for its GET endpoints.
curl -fsS "$GH/.well-known/openid-configuration" >"$WORK/discovery.json"
GH_JWKS_URL=$(json_get jwks_uri <"$WORK/discovery.json") || die "Gatehouse discovery has no jwks_uri"
curl -fsS "$GH_JWKS_URL" >"$WORK/jwks.json"
CEILING_PORT=$(free_port)
"$CEILING_BIN" "$CEILING_PORT" "$OP_CLIENT_ID" "$OP_CLIENT_SECRET" "$WORK/discovery.json" "$WORK/jwks.json" \
    >"$WORK/ceiling.log" 2>&1 &
CEILING_PID=$!
PIDS+=("$CEILING_PID")
CEILING=http://127.0.0.1:$CEILING_PORT
wait_ready ceiling "$CEILING/readyz" "$CEILING_PID" "$WORK/ceiling.log"

# ---------------------------------------------------------------- endpoints
SERVERS=(gatehouse op ceiling)
BASE_ENDPOINTS=(token introspect discovery jwks)
ENDPOINTS=("${BASE_ENDPOINTS[@]}")
declare -A URL AUTH
discovery_of() { curl -fsS "$1/.well-known/openid-configuration"; }
REAL_SERVERS=(gatehouse op)
((SCALE_ROWS > 0)) && REAL_SERVERS+=(full)
for s in "${REAL_SERVERS[@]}"; do
    case $s in
    gatehouse) base=$GH id=$GH_CLIENT_ID secret=$GH_CLIENT_SECRET ;;
    op) base=$OP id=$OP_CLIENT_ID secret=$OP_CLIENT_SECRET ;;
    full) base=$BIG id=$BIG_CLIENT_ID secret=$BIG_CLIENT_SECRET ;;
    esac
    doc=$(discovery_of "$base")
    URL[$s,token]=$(json_get token_endpoint <<<"$doc") || die "$s: no token_endpoint"
    URL[$s,introspect]=$(json_get introspection_endpoint <<<"$doc") || die "$s: no introspection_endpoint"
    URL[$s,discovery]=$base/.well-known/openid-configuration
    URL[$s,jwks]=$(json_get jwks_uri <<<"$doc") || die "$s: no jwks_uri"
    AUTH[$s]="Basic $(printf '%s:%s' "$id" "$secret" | base64 -w0)"
done
URL[ceiling,token]=$CEILING/token
URL[ceiling,introspect]=$CEILING/introspect
URL[ceiling,discovery]=$CEILING/.well-known/openid-configuration
URL[ceiling,jwks]=$CEILING/jwks.json
AUTH[ceiling]="Basic $(printf '%s:%s' "$OP_CLIENT_ID" "$OP_CLIENT_SECRET" | base64 -w0)"

declare -A PID_OF=([gatehouse]=$GH_PID [op]=$OP_PID [ceiling]=$CEILING_PID)
declare -A LOG_OF=([gatehouse]=gatehouse [op]=op [ceiling]=ceiling [full]=full)
((SCALE_ROWS > 0)) && PID_OF[full]=$BIG_PID

# The servers that run endpoint EP, in round order.
servers_of() {
    case $1 in
    code-* | sso) echo gatehouse ;;
    token | introspect) echo "${SERVERS[@]}"; ((SCALE_ROWS > 0)) && echo full || true ;;
    *) echo "${SERVERS[@]}" ;;
    esac
}

# The flows' browser session: one sign-in through the login form.
if ((FLOWS)); then
    jar=$WORK/cookies.txt
    login_page=$(curl -fsS -c "$jar" "$GH/login") || die "GET /login failed"
    csrf=$(sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' <<<"$login_page" | head -1)
    [[ -n $csrf ]] || die "no csrf_token on the login page"
    status=$(curl -sS -o /dev/null -w '%{http_code}' -b "$jar" -c "$jar" --data-urlencode "csrf_token=$csrf" \
        --data-urlencode email=flows@bench.example --data-urlencode "password=$FLOW_PASSWORD" "$GH/login")
    [[ $status == 303 ]] || die "sign-in answered $status, expected 303"
    FLOW_COOKIE=$(awk '$6 == "gatehouse_session" { print "gatehouse_session=" $7 }' "$jar")
    [[ -n $FLOW_COOKIE ]] || die "no session cookie after signing in"
    AUTHORIZE_PATH=$(json_get authorization_endpoint <<<"$(discovery_of "$GH")" | sed 's|^https\?://[^/]*||')
    TOKEN_PATH=$(sed 's|^https\?://[^/]*||' <<<"${URL[gatehouse,token]}")
    ENDPOINTS+=("${FLOW_ENDPOINTS[@]}")
fi
urlencode() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
TOKEN_BODY=grant_type=client_credentials

# A fresh access token from SERVER, checked active by its introspection.
# Taken just before each introspection run: oidc-provider's in-memory
# adapter keeps only the last 1000 entries, so an older token may be gone.
fresh_token() {
    local s=$1 resp tok
    resp=$(post_form "${URL[$s,token]}" "${AUTH[$s]}" "$TOKEN_BODY") || die "$s: token request failed"
    tok=$(json_get access_token <<<"$resp") || die "$s: no access_token in $resp"
    check_active "$s" "$tok"
    printf '%s' "$tok"
}

# The introspection of TOKEN at SERVER still says active (a run must not
# have measured "active":false answers).
check_active() {
    local s=$1 tok=$2 intro
    intro=$(post_form "${URL[$s,introspect]}" "${AUTH[$s]}" "token=$tok") || die "$s: introspection failed"
    [[ $(json_get active <<<"$intro") == true ]] || die "$s: token not active: $intro"
}

# One wrk run; OUT gets wrk's report.
run_wrk() {
    local s=$1 ep=$2 dur=$3 out=$4 tok="" rc=0
    local args=(--latency -t "$THREADS" -c "$CONNECTIONS" -d "$dur" --timeout 10s)
    case $ep in
    token)
        wrk "${args[@]}" -s "$ROOT/bench/post.lua" "${URL[$s,$ep]}" -- "$TOKEN_BODY" "${AUTH[$s]}" >"$out" 2>&1 || rc=$?
        ;;
    introspect)
        tok=$(fresh_token "$s") || exit 1
        wrk "${args[@]}" -s "$ROOT/bench/post.lua" "${URL[$s,$ep]}" -- "token=$tok" "${AUTH[$s]}" >"$out" 2>&1 || rc=$?
        ;;
    code-*)
        local alg=${ep#code-}
        local q="response_type=code&client_id=$(urlencode "${FLOW_CLIENT[$alg]}")&redirect_uri=$(urlencode "$FLOW_REDIRECT")"
        q+="&scope=openid%20profile%20email&state=bench&nonce=bench"
        wrk "${args[@]}" -s "$ROOT/bench/flow.lua" "$GH" -- code "$AUTHORIZE_PATH?$q" "$FLOW_COOKIE" \
            "$TOKEN_PATH" "${FLOW_AUTH[$alg]}" "$FLOW_REDIRECT" >"$out" 2>&1 || rc=$?
        ;;
    sso)
        wrk "${args[@]}" -s "$ROOT/bench/flow.lua" "$GH" -- sso "$TOKEN_PATH" "${FLOW_AUTH[sso]}" \
            "grant_type=single_sign_on&scope=clientarea%3Asso%20clientarea%3Ainvoices" "$AREA" >"$out" 2>&1 || rc=$?
        ;;
    *)
        wrk "${args[@]}" "${URL[$s,$ep]}" >"$out" 2>&1 || rc=$?
        ;;
    esac
    ((rc == 0)) || { cat "$out" >&2; die "wrk failed on $s $ep"; }
    kill -0 "${PID_OF[$s]}" 2>/dev/null || { tail -n 20 "$WORK/${LOG_OF[$s]}.log" >&2; die "$s exited during the $ep run"; }
    if [[ $ep == introspect ]]; then check_active "$s" "$tok"; fi
}

# "rps p50_ms p99_ms errors flows_per_s" from a wrk --latency report.
parse_wrk() {
    awk '
        function ms(v) {
            if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
            if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
            if (v ~ /m$/)  return substr(v, 1, length(v) - 1) * 60000
            if (v ~ /s$/)  return substr(v, 1, length(v) - 1) * 1000
            return v + 0
        }
        $1 == "Requests/sec:" { rps = $2 }
        $1 == "Flows/sec:" { flows = $2 }
        $1 == "Flow" && $2 == "failures:" { err += $3 }
        $1 == "50%" { p50 = ms($2) }
        $1 == "99%" { p99 = ms($2) }
        /Non-2xx or 3xx responses:/ { err += $NF }
        /Socket errors:/ { gsub(/,/, ""); err += $4 + $6 + $8 + $10 }
        END {
            if (rps == "" || p50 == "" || p99 == "") exit 1
            printf "%s %.3f %.3f %d %s\n", rps, p50, p99, err, (flows == "" ? "-" : flows)
        }' "$1"
}

# ---------------------------------------------------------------- machine
echo "## Gatehouse load harness"
echo
echo "- machine: $(nproc) CPUs, $(grep -m1 '^model name' /proc/cpuinfo | sed 's/^model name[[:space:]]*: //' || echo unknown CPU)," \
    "$(uname -sr), load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- gatehouse $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?')$(cd "$ROOT" && git diff --quiet HEAD 2>/dev/null || echo ' (uncommitted changes)')," \
    "backend $BACKEND, log level $LOG_LEVEL; oidc-provider $(node -p 'require(process.argv[1]).version' "$OP_DIR/node_modules/oidc-provider/package.json")" \
    "on node $(node --version) (in-memory adapter); $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)"
echo "- wrk: $THREADS threads, $CONNECTIONS connections, $DURATION per run, $ROUNDS round(s), warm-up $WARMUP;" \
    "median of rounds; order per round: Gatehouse, oidc-provider, ceiling; the flows' rounds after the endpoints' rounds"
echo

GH_RSS_IDLE=$(rss_kib "$GH_PID")
OP_RSS_IDLE=$(rss_kib "$OP_PID")
CEILING_RSS_IDLE=$(rss_kib "$CEILING_PID")

# ---------------------------------------------------------------- runs
# The four endpoints first (warm-up, then the rounds), so that memory after
# them is read before the flows, which exercise much more code, run; then
# the flows the same way.
RESULTS=$WORK/results.txt
: >"$RESULTS"
rss_parts() {
    awk '/^(RssAnon|RssFile|Threads):/ { printf "%s %s%s, ", $1, $2, ($3 == "kB" ? " kB" : "") }' "/proc/$1/status" |
        sed 's/, $//'
}
# Runs warm-up and rounds for the endpoints given.
run_phase() {
    local ep s r out line
    if [[ $WARMUP != 0 && $WARMUP != 0s ]]; then
        note "warm-up ($WARMUP per endpoint and server): $*"
        for ep in "$@"; do
            for s in $(servers_of "$ep"); do run_wrk "$s" "$ep" "$WARMUP" "$WORK/wrk/warmup-$s-$ep.txt"; done
        done
    fi
    for ((r = 1; r <= ROUNDS; r++)); do
        note "round $r/$ROUNDS: $*"
        for ep in "$@"; do
            for s in $(servers_of "$ep"); do
                out=$WORK/wrk/$r-$s-$ep.txt
                run_wrk "$s" "$ep" "$DURATION" "$out"
                line=$(parse_wrk "$out") || { cat "$out" >&2; die "cannot read wrk's report for $s $ep"; }
                echo "$ep $s $r $line" >>"$RESULTS"
            done
        done
    done
}

run_phase "${BASE_ENDPOINTS[@]}"
GH_RSS_BASE=$(rss_kib "$GH_PID")
GH_RSS_BASE_PARTS=$(rss_parts "$GH_PID")
GH_HWM_BASE=$(hwm_kib "$GH_PID")
[[ -n ${SMAPS_DIR:-} ]] && cp "/proc/$GH_PID/smaps" "$SMAPS_DIR/smaps.endpoints"
if ((FLOWS)); then
    run_phase "${FLOW_ENDPOINTS[@]}"
fi

GH_RSS_AFTER=$(rss_kib "$GH_PID")
GH_RSS_PARTS=$(rss_parts "$GH_PID")
GH_HWM=$(hwm_kib "$GH_PID")
[[ -n ${SMAPS_DIR:-} ]] && cp "/proc/$GH_PID/smaps" "$SMAPS_DIR/smaps.after"
OP_RSS_AFTER=$(rss_kib "$OP_PID")
CEILING_RSS_AFTER=$(rss_kib "$CEILING_PID")

# ---------------------------------------------------------------- report
# Median of field F (4 rps, 5 p50, 6 p99, 8 flows/s) for endpoint E and server S;
# errors (7) are summed.
med() {
    awk -v e="$1" -v s="$2" -v f="$3" '$1 == e && $2 == s { print $f }' "$RESULTS" | sort -g |
        awk -v f="$3" '{ v[NR] = $1; sum += $1 }
            END {
                if (NR == 0 || v[1] == "-") { print "-"; exit }
                if (f == 7) { print sum; exit }
                m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
                print m
            }'
}
fmt_rps() { awk -v v="$1" 'BEGIN { if (v == "-") print "-"; else printf "%.0f", v }'; }
fmt_ms() { awk -v v="$1" 'BEGIN { if (v == "-") print "-"; else if (v < 10) printf "%.2f ms", v; else printf "%.1f ms", v }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f×", a / b }'; }
percent() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.0f %%", 100 * a / b }'; }

declare -A LABEL=([token]="POST token (client_credentials)" [introspect]="POST introspection"
    [discovery]="GET discovery" [jwks]="GET JWKS" [code-RS256]="authorization code, RS256 ID token"
    [code-ES256]="authorization code, ES256 ID token" [code-EdDSA]="authorization code, EdDSA ID token"
    [sso]="SSO: single_sign_on grant, then /oauth2/sso")
total_errors=0
# " ⚠ server: N errors" for every server of EP that had errors, added to
# total_errors (so: not in a subshell).
error_flag() {
    local ep=$1 s e flag=""
    for s in $(servers_of "$ep"); do
        e=$(med "$ep" "$s" 7)
        if [[ $e != - && $e != 0 ]]; then
            flag+=" ⚠ $s: $e errors"
            total_errors=$((total_errors + e))
        fi
    done
    printf '%s' "$flag"
}
echo "| endpoint | Gatehouse req/s | p50 | p99 | oidc-provider req/s | p50 | p99 | Gatehouse / oidc-provider | ceiling req/s | Gatehouse % of ceiling |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for ep in "${BASE_ENDPOINTS[@]}"; do
    gh=$(med "$ep" gatehouse 4) op=$(med "$ep" op 4) ce=$(med "$ep" ceiling 4)
    error_flag "$ep" >"$WORK/flag"
    flag=$(<"$WORK/flag")
    echo "| ${LABEL[$ep]}$flag | $(fmt_rps "$gh") | $(fmt_ms "$(med "$ep" gatehouse 5)") | $(fmt_ms "$(med "$ep" gatehouse 6)")" \
        "| $(fmt_rps "$op") | $(fmt_ms "$(med "$ep" op 5)") | $(fmt_ms "$(med "$ep" op 6)")" \
        "| $(ratio "$gh" "$op") | $(fmt_rps "$ce") | $(percent "$gh" "$ce") |"
done
echo
if ((FLOWS)); then
    echo "Flows (Gatehouse only; a flow is two requests, counted when its second answer is right):"
    echo
    echo "| flow | flows/s | req/s | p50 | p99 |"
    echo "|---|---:|---:|---:|---:|"
    for ep in "${FLOW_ENDPOINTS[@]}"; do
        error_flag "$ep" >"$WORK/flag"
        flag=$(<"$WORK/flag")
            echo "| ${LABEL[$ep]}$flag | $(fmt_rps "$(med "$ep" gatehouse 8)") | $(fmt_rps "$(med "$ep" gatehouse 4)")" \
            "| $(fmt_ms "$(med "$ep" gatehouse 5)") | $(fmt_ms "$(med "$ep" gatehouse 6)") |"
    done
    echo
fi
if ((SCALE_ROWS > 0)); then
    echo "Scale: the same endpoints on a second Gatehouse whose grants table held $SCALE_ROWS live tokens before the run:"
    echo
    echo "| endpoint | empty table req/s | p99 | $SCALE_ROWS rows req/s | p99 | full / empty |"
    echo "|---|---:|---:|---:|---:|---:|"
    for ep in token introspect; do
        e=$(med "$ep" gatehouse 4) f=$(med "$ep" full 4)
        echo "| ${LABEL[$ep]} | $(fmt_rps "$e") | $(fmt_ms "$(med "$ep" gatehouse 6)") | $(fmt_rps "$f")" \
            "| $(fmt_ms "$(med "$ep" full 6)") | $(percent "$f" "$e") |"
    done
    echo
fi
if ((ROUNDS > 1)); then
    echo "Per-round req/s (Gatehouse / oidc-provider / ceiling$( ((SCALE_ROWS > 0)) && echo " / full table")):"
    echo
    header="| endpoint |" rule="|---|"
    for ((r = 1; r <= ROUNDS; r++)); do header+=" round $r |"; rule+="---:|"; done
    echo "$header"
    echo "$rule"
    for ep in "${ENDPOINTS[@]}"; do
        row="| ${LABEL[$ep]} |"
        for ((r = 1; r <= ROUNDS; r++)); do
            row+=" $(awk -v e="$ep" -v r="$r" '$1 == e && $3 == r { v[$2] = sprintf("%.0f", $4) }
                END { out = v["gatehouse"]; if ("op" in v) out = out " / " v["op"] " / " v["ceiling"]
                      if ("full" in v) out = out " / " v["full"]; printf "%s", out }' "$RESULTS") |"
        done
        echo "$row"
    done
    echo
fi
echo "| process | RSS idle (before load) | RSS after load | peak RSS |"
echo "|---|---:|---:|---:|"
if ((FLOWS)); then
    echo "| Gatehouse ($BACKEND), after the four endpoints | $(mib "$GH_RSS_IDLE") | $(mib "$GH_RSS_BASE") | $(mib "$GH_HWM_BASE") |"
    echo "| Gatehouse ($BACKEND), after the flows too | | $(mib "$GH_RSS_AFTER") | $(mib "$GH_HWM") |"
else
    echo "| Gatehouse ($BACKEND) | $(mib "$GH_RSS_IDLE") | $(mib "$GH_RSS_AFTER") | $(mib "$GH_HWM") |"
fi
echo "| oidc-provider | $(mib "$OP_RSS_IDLE") | $(mib "$OP_RSS_AFTER") | $(mib "$(hwm_kib "$OP_PID")") |"
echo "| ceiling | $(mib "$CEILING_RSS_IDLE") | $(mib "$CEILING_RSS_AFTER") | $(mib "$(hwm_kib "$CEILING_PID")") |"
echo
if ((FLOWS)); then
    echo "- Gatehouse after the four endpoints: $GH_RSS_BASE_PARTS; after the flows too: $GH_RSS_PARTS"
else
    echo "- Gatehouse after load: $GH_RSS_PARTS"
fi
echo "- end: load average $(cut -d' ' -f1-3 /proc/loadavg)"
if ((total_errors > 0)); then
    echo "- ⚠ $total_errors non-2xx responses or socket errors: rows marked ⚠ did not measure what they claim"
    exit 1
fi
