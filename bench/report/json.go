package report

import (
	"encoding/json"
	"io"
)

// WriteJSON writes the run, every raw figure included, as indented JSON.
func WriteJSON(w io.Writer, r *Run) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
