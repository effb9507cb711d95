//go:build linux && amd64

#include "textflag.h"

// func vforkExit(flags uintptr) (pid uintptr, errno uintptr)
//
// clone(flags) with a child that runs nothing but exit_group(0): it shares
// this process's memory and stack (flags has CLONE_VM|CLONE_VFORK, this
// thread waits until it has exited) and writes neither. Every signal is
// blocked on this thread across the clone, so the child, which inherits
// the mask, never runs one of this process's handlers.
TEXT ·vforkExit(SB),NOSPLIT,$16-24
	MOVQ	$-1, AX
	MOVQ	AX, 0(SP)	// the mask: every signal
	MOVQ	$2, DI		// SIG_SETMASK
	LEAQ	0(SP), SI
	LEAQ	8(SP), DX	// the old mask
	MOVQ	$8, R10
	MOVQ	$14, AX		// SYS_rt_sigprocmask
	SYSCALL
	CMPQ	AX, $0xfffffffffffff001
	JLS	masked
	NEGQ	AX
	MOVQ	$-1, pid+8(FP)
	MOVQ	AX, errno+16(FP)
	RET
masked:
	MOVQ	flags+0(FP), DI
	XORQ	SI, SI		// the same stack
	XORQ	DX, DX
	XORQ	R10, R10
	XORQ	R8, R8
	MOVQ	$56, AX		// SYS_clone
	SYSCALL
	CMPQ	AX, $0
	JNE	parent
	// The child: no memory written, no function called.
	XORQ	DI, DI
	MOVQ	$231, AX	// SYS_exit_group
	SYSCALL
	JMP	0(PC)
parent:
	MOVQ	AX, R12
	MOVQ	$2, DI		// SIG_SETMASK
	LEAQ	8(SP), SI
	XORQ	DX, DX
	MOVQ	$8, R10
	MOVQ	$14, AX		// SYS_rt_sigprocmask
	SYSCALL
	CMPQ	R12, $0xfffffffffffff001
	JLS	ok
	NEGQ	R12
	MOVQ	$-1, pid+8(FP)
	MOVQ	R12, errno+16(FP)
	RET
ok:
	MOVQ	R12, pid+8(FP)
	MOVQ	$0, errno+16(FP)
	RET
