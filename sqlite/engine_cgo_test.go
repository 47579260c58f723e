//go:build chronicle_cgo && cgo

package sqlite

func init() { testEngines["cgo"] = cEngine{} }
