module github.com/statehouse/statehouse

go 1.26.0

require (
	github.com/cespare/xxhash/v2 v2.3.0
	github.com/cockroachdb/datadriven v1.0.3
	github.com/tidwall/btree v1.8.2
)

require github.com/pmezard/go-difflib v1.0.0 // indirect
