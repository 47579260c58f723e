//go:build !(chronicle_cgo && cgo)

package sqlite

// fileEngine is the engine for stores in files: without the chronicle_cgo
// build tag, the pure-Go one.
func fileEngine() engine { return wasmEngine{} }

// Engine names the SQLite implementation this build uses for stores in
// files: "wasm" (pure Go, the default) or "cgo" (native SQLite, with the
// chronicle_cgo build tag).
const Engine = "wasm"
