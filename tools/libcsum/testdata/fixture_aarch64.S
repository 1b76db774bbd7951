/* Tiny shared library for the libcsum unit tests (aarch64).
 * Syscall numbers: 56 openat, 172 getpid, 93 exit, 64 write, 174 getuid,
 * 175 geteuid, 173 getppid, 63 read. */
	.text
	.globl direct_openat
	.type direct_openat, %function
direct_openat:
	mov x8, #56
	svc #0
	ret

	.globl across_blocks
	.type across_blocks, %function
across_blocks:
	mov w8, #172
	cbz x0, 1f
	nop
1:	svc #0
	ret

	.globl wrapper
	.type wrapper, %function
wrapper:
	mov x8, x0
	mov x0, x1
	svc #0
	ret

	.type hidden_wrapper, %function
hidden_wrapper:
	stp x29, x30, [sp, #-16]!
	mov x19, x0
	mov x8, x19
	svc #0
	ldp x29, x30, [sp], #16
	ret

	.globl tail_exit
	.type tail_exit, %function
tail_exit:
	mov x0, #93
	b hidden_wrapper

	.type hidden_write, %function
hidden_write:
	mov x8, #64
	svc #0
	ret

	.globl calls_hidden
	.type calls_hidden, %function
calls_hidden:
	stp x29, x30, [sp, #-16]!
	bl hidden_write
	ldp x29, x30, [sp], #16
	ret

	.globl unknown_nr
	.type unknown_nr, %function
unknown_nr:
	ldr w8, [x0]
	svc #0
	ret

	.globl eq_zero
	.type eq_zero, %function
eq_zero:
	cmp x1, #63
	b.eq 1f
	ret
1:	mov x8, x1
	svc #0
	ret

	.globl low_byte
	.type low_byte, %function
low_byte:
	mov w8, wzr
	mov w8, #173
	svc #0
	ret

	.type impl_a, %function
impl_a:
	mov x8, #174
	svc #0
	ret
	.type impl_b, %function
impl_b:
	mov x8, #175
	svc #0
	ret
	.type resolve_sel, %function
resolve_sel:
	adrp x1, impl_a
	add x1, x1, :lo12:impl_a
	adrp x2, impl_b
	add x2, x2, :lo12:impl_b
	cmp x0, #0
	csel x0, x1, x2, eq
	ret
	.globl sel
	.type sel, %gnu_indirect_function
	.set sel, resolve_sel

	.globl calls_ifunc
	.type calls_ifunc, %function
calls_ifunc:
	stp x29, x30, [sp, #-16]!
	bl sel
	ldp x29, x30, [sp], #16
	ret

	.globl run_cb
	.type run_cb, %function
run_cb:
	stp x29, x30, [sp, #-16]!
	mov x19, x0
	blr x19
	ldp x29, x30, [sp], #16
	ret

	.type local_cb, %function
local_cb:
	mov x8, #173
	svc #0
	ret

	.globl passes_local_cb
	.type passes_local_cb, %function
passes_local_cb:
	adrp x0, local_cb
	add x0, x0, :lo12:local_cb
	b run_cb

	.globl no_syscalls
	.type no_syscalls, %function
no_syscalls:
	add x0, x0, #1
	ret

/* rule noreturn */
	.type dies, %function
dies:
	mov x8, #93
	svc #0
	brk #0
	.globl calls_dies
	.type calls_dies, %function
calls_dies:
	cbz x0, 1f
	ret
1:	bl dies
	.globl after_dies
	.type after_dies, %function
after_dies:
	mov x8, #172
	svc #0
	ret

/* a call that ends an FDE */
	.type may_return, %function
may_return:
	cbz x0, 1f
	mov x8, #93
	svc #0
1:	ret
	.globl fde_end
	.type fde_end, %function
fde_end:
	.cfi_startproc
	bl may_return
	.cfi_endproc
	.globl after_fde
	.type after_fde, %function
after_fde:
	mov x8, #173
	svc #0
	ret

/* a callback argument spilled to the stack across a call */
	.globl spill_run
	.type spill_run, %function
spill_run:
	stp x29, x30, [sp, #-32]!
	str x0, [sp, #16]
	bl no_syscalls
	ldr x1, [sp, #16]
	blr x1
	ldp x29, x30, [sp], #32
	ret
	.globl passes_spilled_cb
	.type passes_spilled_cb, %function
passes_spilled_cb:
	adrp x0, local_cb
	add x0, x0, :lo12:local_cb
	b spill_run

/* a call through a read-only table (RELRO) */
	.globl table_call
	.type table_call, %function
table_call:
	stp x29, x30, [sp, #-16]!
	adrp x1, ro_table
	add x1, x1, :lo12:ro_table
	ldr x2, [x1]
	blr x2
	ldp x29, x30, [sp], #16
	ret
	.section .data.rel.ro,"aw"
	.p2align 3
ro_table:
	.quad impl_a
	.text

/* a call through a pointer of the dynamic loader's data */
	.globl rtld_call
	.type rtld_call, %function
rtld_call:
	adrp x0, :got:_rtld_global_ro
	ldr x0, [x0, :got_lo12:_rtld_global_ro]
	ldr x1, [x0, #16]
	br x1

	.section .note.GNU-stack,"",%progbits
