module github.com/chronicle-go/chronicle

go 1.26.8

require (
	github.com/mattn/go-sqlite3 v1.14.53
	github.com/ncruces/go-sqlite3 v0.36.0
	go.uber.org/goleak v1.3.0
)

require (
	github.com/ncruces/go-sqlite3-wasm/v6 v6.4.35401 // indirect
	github.com/ncruces/julianday v1.0.0 // indirect
	github.com/ncruces/wbt v1.0.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)
