#!/usr/bin/env bash
# Two pnsmgr replicas of one logical proxy on this machine, sharing their state in one Redis.
#
#   bash scripts/two-replicas.sh            # starts redis-server on a free 127.0.0.1 port, then A and B
#   REDIS_URL=redis://host:6379 bash scripts/two-replicas.sh   # uses that Redis instead (left running)
#
# Replica A listens on 5006 (seed connections), 5005 (seed registry), 5004 (v1) and 5007 (admin, on
# 127.0.0.1); B on 6006, 6005, 6004 and 6007. Override with REPLICA_A_PORTS / REPLICA_B_PORTS
# ("connections,registry,v1[,admin]") and the bind host with BIND_HOST (default 127.0.0.1). The
# replicas may dial loopback (PNSMGR_DIAL_ALLOW defaults to 127.0.0.0/8,::1 here, for peers on this
# machine; the destination guard refuses loopback otherwise). Both get the same NSM_NAME (default nsmgr-proxy): replicas
# of one proxy must write the same path segment name. Every other pnsmgr variable in the environment
# (PNSMGR_*, NSM_*, PROXY_NSMD_*) is passed to both; PROXY_NSMD_ADDRESS defaults to each replica's own
# connection address. Their logs are printed prefixed [A] / [B]. Ctrl-C (or SIGTERM) drains both
# replicas, stops the Redis this script started and removes its files; if a replica exits on its own,
# the other is stopped too and the script exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."

bind_host="${BIND_HOST:-127.0.0.1}"
IFS=, read -r a_api a_registry a_v1 a_admin <<<"${REPLICA_A_PORTS:-5006,5005,5004,5007}"
IFS=, read -r b_api b_registry b_v1 b_admin <<<"${REPLICA_B_PORTS:-6006,6005,6004,6007}"
a_admin="${a_admin:-$((a_api + 1))}"
b_admin="${b_admin:-$((b_api + 1))}"
for port in "$a_api" "$a_registry" "$a_v1" "$a_admin" "$b_api" "$b_registry" "$b_v1" "$b_admin"; do
  [[ "$port" =~ ^[0-9]+$ ]] || { echo "two-replicas: REPLICA_A_PORTS / REPLICA_B_PORTS must be ports, connections,registry,v1[,admin]" >&2; exit 2; }
done
if [[ -n "${PNSMGR_REDIS_SENTINELS:-}" ]]; then
  echo "two-replicas: PNSMGR_REDIS_SENTINELS is set; this script uses REDIS_URL (unset the sentinels)" >&2
  exit 2
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/pnsmgr-two-replicas.XXXXXX")"
redis_pid=""
pids=()
stopping=""

cleanup() {
  local code=$?
  [[ -n "$stopping" ]] && return
  stopping=1
  trap - INT TERM
  if ((${#pids[@]} > 0)); then
    echo "two-replicas: stopping the replicas (drain)" >&2
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    # pnsmgr drains for up to 5 s; then anything left is killed.
    for _ in $(seq 70); do
      local alive=""
      for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
      [[ -z "$alive" ]] && break
      sleep 0.1
    done
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  fi
  if [[ -n "$redis_pid" ]]; then
    echo "two-replicas: stopping redis-server (pid $redis_pid)" >&2
    kill -TERM "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{const p=s.address().port;s.close(()=>console.log(p))})'
}

if [[ -n "${REDIS_URL:-}" ]]; then
  redis_url="$REDIS_URL"
  redis_note="(given by REDIS_URL, left running)"
else
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "two-replicas: redis-server not found: install it (apt-get install redis-server) or set REDIS_URL" >&2
    exit 1
  fi
  redis_port="$(free_port)"
  setsid=""
  command -v setsid >/dev/null 2>&1 && setsid=setsid
  # In a session of its own, so that Ctrl-C reaches the replicas (which drain) and not Redis, which
  # is stopped after them. Output prefixers ignore SIGINT so that a draining replica can still log.
  $setsid redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" --loglevel warning \
    > >(trap '' INT; sed -u 's/^/[redis] /') 2>&1 &
  redis_pid=$!
  redis_url="redis://127.0.0.1:$redis_port"
  redis_note="(redis-server pid $redis_pid, no persistence, stopped on exit)"
  # Ready once it accepts a connection.
  for _ in $(seq 100); do
    node -e 'const c=require("net").connect(+process.argv[1],"127.0.0.1",()=>process.exit(0));c.on("error",()=>process.exit(1))' "$redis_port" && break
    kill -0 "$redis_pid" 2>/dev/null || { echo "two-replicas: redis-server exited at start" >&2; exit 1; }
    sleep 0.1
  done
fi

name="${NSM_NAME:-nsmgr-proxy}"

# start_replica LABEL API REGISTRY V1 ADMIN
start_replica() {
  local label=$1 api="$bind_host:$2" registry="$bind_host:$3" v1="tcp://$bind_host:$4"
  env -u PNSMGR_REDIS_SENTINELS \
    REDIS_URL="$redis_url" NSM_NAME="$name" \
    PNSMGR_DIAL_ALLOW="${PNSMGR_DIAL_ALLOW:-127.0.0.0/8,::1}" PNSMGR_ADMIN_LISTEN_ON="127.0.0.1:$5" \
    PROXY_NSMD_API_ADDRESS="$api" PROXY_NSMD_K8S_ADDRESS="$registry" NSM_LISTEN_ON="$v1" \
    PROXY_NSMD_ADDRESS="${PROXY_NSMD_ADDRESS:-$api}" \
    PNSMGR_INSECURE="${PNSMGR_INSECURE:-$([[ -n "${SPIFFE_ENDPOINT_SOCKET:-}" ]] && echo false || echo true)}" \
    node --import tsx lib/main.ts > >(trap '' INT; tee "$work/$label.log" | sed -u "s/^/[$label] /") 2>&1 &
  pids+=($!)
}

start_replica A "$a_api" "$a_registry" "$a_v1" "$a_admin"
start_replica B "$b_api" "$b_registry" "$b_v1" "$b_admin"

# Both must log "pnsmgr serving" (the store is connected by then) within 30 s.
for i in 0 1; do
  label=$([[ $i == 0 ]] && echo A || echo B)
  for _ in $(seq 300); do
    grep -q "pnsmgr serving" "$work/$label.log" 2>/dev/null && break
    kill -0 "${pids[$i]}" 2>/dev/null || { echo "two-replicas: replica $label exited at start (see [$label] above)" >&2; exit 1; }
    sleep 0.1
  done
  grep -q "pnsmgr serving" "$work/$label.log" || { echo "two-replicas: replica $label did not start within 30 s" >&2; exit 1; }
done

cat <<EOF

two pnsmgr replicas of "$name", sharing $redis_url $redis_note
  A  pid ${pids[0]}  connections $bind_host:$a_api  registry $bind_host:$a_registry  v1 tcp://$bind_host:$a_v1  admin 127.0.0.1:$a_admin
  B  pid ${pids[1]}  connections $bind_host:$b_api  registry $bind_host:$b_registry  v1 tcp://$bind_host:$b_v1  admin 127.0.0.1:$b_admin
  the shared event log:  npx pnsmgr events --redis $redis_url --follow
Ctrl-C stops both.

EOF

# Until Ctrl-C / SIGTERM (the traps exit), or until a replica exits by itself.
set +e
wait -n "${pids[@]}"
code=$?
set -e
echo "two-replicas: a replica exited (code $code); stopping the other" >&2
exit 1
