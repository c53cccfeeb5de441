// Command webshop is the story statehouse exists for: a web shop whose
// web servers keep no state. Sign in, add to a cart, view it, sign out;
// kill any web server or the store's leader, and nobody is signed out and
// no cart loses an item.
//
//	go run ./examples/webshop
//
// starts, on loopback, three statehouse nodes (ports 6390-6392), two web
// servers (8081, 8082: this binary run as `webshop web`, each with its own
// client.Client and session.Manager, sharing the cookie-signing key) and
// a round-robin reverse proxy (8080) that sends each request to the next
// web server, skipping one that cannot be connected to. The cart is kept
// one session value per item ("cart:tea" = "2"), so two tabs adding
// different items at once keep both.
//
// In containers, `docker compose --profile demo up -d` runs the web
// servers (`webshop web`, with --addr-map: the nodes announce the host's
// ports) and the proxy (`webshop proxy`) beside the compose file's three
// nodes; examples/webshop/docker-smoke.sh runs the story end to end there.
package main
