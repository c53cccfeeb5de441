#!/usr/bin/env bash
# CI smoke run of jepsen-lite: three workloads at once under kills,
# partitions and pauses for 90 s. Exits with jepsen-lite's code, except
# that "cannot run here" (3: not root, no ip netns) is a skip.
#
#   jepsen-lite/smoke.sh            # from anywhere in the checkout
#   SEED=1234 jepsen-lite/smoke.sh  # replay a schedule
#   NODE_ARGS=--lease-reads=false jepsen-lite/smoke.sh  # extra flags for every node
#   MAXMEMORY=100kb MAXMEMORY_POLICY=allkeys-random jepsen-lite/smoke.sh
set -uo pipefail
cd "$(dirname "$0")/.."
args=(--workload "${WORKLOADS:-register,counter,session}" --nemesis "${NEMESES:-kill,partition,pause}"
	--time-limit "${TIME_LIMIT:-90s}" --interval 5s)
[ -n "${SEED:-}" ] && args+=(--seed "$SEED")
[ -n "${OUT:-}" ] && args+=(--out "$OUT")
[ -n "${SECURE:-}" ] && args+=(--secure) # TLS on clients and peers, ACL users
[ -n "${NODE_ARGS:-}" ] && args+=(--node-args "$NODE_ARGS")
[ -n "${MAXMEMORY:-}" ] && args+=(--maxmemory "$MAXMEMORY")                      # evictions recorded, evicted keys left out
[ -n "${MAXMEMORY_POLICY:-}" ] && args+=(--maxmemory-policy "$MAXMEMORY_POLICY")
go run ./jepsen-lite "${args[@]}"
code=$?
if [ "$code" = 3 ]; then
	echo "jepsen-lite smoke skipped: this machine cannot run the local backend"
	exit 0
fi
exit "$code"
