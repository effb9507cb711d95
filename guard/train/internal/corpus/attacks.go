package corpus

// attacks adds the injections; written after the benign corpus.
func (b *builder) attacks() {}
