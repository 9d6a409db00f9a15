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

// ReadJSON reads a run that WriteJSON wrote.
func ReadJSON(r io.Reader) (*Run, error) {
	var run Run
	if err := json.NewDecoder(r).Decode(&run); err != nil {
		return nil, err
	}
	return &run, nil
}
