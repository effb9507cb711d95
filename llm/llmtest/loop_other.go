//go:build !linux

package llmtest

// NewLoopServer is the lean server, neither recording nor parsing, where
// there is no epoll (see loop_linux.go).
func NewLoopServer(h Handler, holdP bool) *Server {
	s := NewLeanServer(h)
	s.SetRecording(false)
	s.SetParsing(false)
	return s
}

type loopState struct{}

func (s *Server) closeLoop() {}
