#!/usr/bin/env bash
# The web shop in containers (docker-compose.yml, --profile demo), end to
# end: sign in, fill a cart, kill web server 1 and the store's leader, the
# cart is whole through the proxy, sign out. Builds static binaries on the
# host and images from scratch (no registry needed). Not part of CI.
#   bash examples/webshop/docker-smoke.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! docker info >/dev/null 2>&1; then
	echo "webshop docker-smoke: skipped, no Docker engine"
	exit 0
fi
COMPOSE="docker-compose"
command -v docker-compose >/dev/null || COMPOSE="docker compose"
project="statehouse-shop-$$"
export STATEHOUSE_IMAGE="statehouse:$project" WEBSHOP_IMAGE="statehouse-webshop:$project"
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 12000))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
}
export STATEHOUSE_PORT_N1=$(free_port) STATEHOUSE_PORT_N2=$(free_port) STATEHOUSE_PORT_N3=$(free_port) STATEHOUSE_PORT_N4=$(free_port)
export WEBSHOP_PORT=$(free_port) STATEHOUSE_PASSWORD="smoke-$$" REDISCLI_AUTH="smoke-$$"
tmp=$(mktemp -d)
cleanup() {
	$COMPOSE -p "$project" --profile demo down -v --remove-orphans >/dev/null 2>&1 || true
	docker rmi "$STATEHOUSE_IMAGE" "$WEBSHOP_IMAGE" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; $COMPOSE -p "$project" --profile demo logs --tail 30 || true; exit 1; }

for b in statehouse webshop; do
	src=./cmd/statehouse
	[ "$b" = webshop ] && src=./examples/webshop
	mkdir -p "$tmp/$b"
	CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$tmp/$b/$b" "$src"
	printf 'FROM scratch\nCOPY %s /%s\nWORKDIR /data\nENTRYPOINT ["/%s"]\n' "$b" "$b" "$b" >"$tmp/$b/Dockerfile"
done
echo 'ENV STATEHOUSE_DATA_DIR=/data' >>"$tmp/statehouse/Dockerfile"
docker build -q -t "$STATEHOUSE_IMAGE" "$tmp/statehouse" >/dev/null
docker build -q -t "$WEBSHOP_IMAGE" "$tmp/webshop" >/dev/null
$COMPOSE -p "$project" --profile demo up -d --no-build

shop="http://127.0.0.1:$WEBSHOP_PORT"
jar="$tmp/jar"
cart() { curl -s -b "$jar" -c "$jar" "$shop/cart"; }
for _ in $(seq 1 120); do
	curl -sf -o /dev/null "$shop/healthz" && break
	sleep 1
done
curl -sf -o /dev/null "$shop/healthz" || fail "the shop never answered"
curl -sf -L -b "$jar" -c "$jar" -d user=alice "$shop/signin" >/dev/null || fail "sign in"
for sku in tea mug tea; do
	curl -sf -L -b "$jar" -c "$jar" -d sku=$sku "$shop/cart/add" >/dev/null || fail "add $sku"
done
want=$'user alice\nmug 1\ntea 2'
[ "$(cart)" = "$want" ] || fail "cart: $(cart)"

leader=""
for n in 1 2 3; do
	port_var="STATEHOUSE_PORT_N$n"
	[ "$(redis-cli -p "${!port_var}" role 2>/dev/null | head -1)" = master ] && leader=n$n
done
[ -n "$leader" ] || fail "no leader"
$COMPOSE -p "$project" kill web1 "$leader" >/dev/null 2>&1
echo "killed web1 and the store's leader $leader"
for i in 1 2 3 4; do
	got=$(cart)
	[ "$got" = "$want" ] || fail "cart after the kills (request $i): $got"
done
curl -sf -L -b "$jar" -c "$jar" -d "" "$shop/signout" >/dev/null || fail "sign out"
[ "$(curl -s -o /dev/null -w '%{http_code}' -b "$jar" "$shop/cart")" = 401 ] || fail "still signed in after sign-out"
echo "webshop docker-smoke: ok"
