package sandbox

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// An init's reply is read, never trusted: descriptors sent along with one
// (the host asks for none) are closed, not left open in the host, where
// a reply per sandbox would pile them up.
func TestReplyDescriptorsClosed(t *testing.T) {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pair[0])
	defer unix.Close(pair[1])
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	open := func() int {
		ents, _ := os.ReadDir("/proc/self/fd")
		return len(ents)
	}
	before := open()
	for i := 0; i < 50; i++ {
		fd := int(devnull.Fd())
		if err := send(pair[1], &runReply{Alone: true}, fd, fd, fd, fd); err != nil {
			t.Fatal(err)
		}
		var r runReply
		if err := recvReply(pair[0], &r); err != nil || !r.Alone {
			t.Fatalf("recvReply = %v, %+v; want the reply", err, r)
		}
	}
	if after := open(); after > before+4 {
		t.Errorf("%d descriptors open after 50 replies with 4 each, %d before: the init's descriptors stay in the host", after, before)
	}
}
