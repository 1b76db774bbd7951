/* Tiny shared library for the libcsum unit tests (x86-64).
 * Syscall numbers: 257 openat, 39 getpid, 60 exit, 1 write, 102 getuid,
 * 107 geteuid, 110 getppid, 0 read. */
	.text
	.globl direct_openat
	.type direct_openat, @function
direct_openat:
	mov $257, %eax
	syscall
	ret

	.globl across_blocks          /* number set before a branch, used after the join */
	.type across_blocks, @function
across_blocks:
	mov $39, %eax
	test %rdi, %rdi
	je 1f
	nop
1:	syscall
	ret

	.globl wrapper                /* like syscall(): number from argument 1 */
	.type wrapper, @function
wrapper:
	mov %rdi, %rax
	mov %rsi, %rdi
	syscall
	ret

	.type hidden_wrapper, @function   /* not exported: found as a call/jump target */
hidden_wrapper:
	push %rbx
	mov %rdi, %rbx
	mov %rbx, %rax
	syscall
	pop %rbx
	ret

	.globl tail_exit              /* tail call passing the number */
	.type tail_exit, @function
tail_exit:
	mov $60, %edi
	jmp hidden_wrapper

	.type hidden_write, @function
hidden_write:
	mov $1, %eax
	syscall
	ret

	.globl calls_hidden
	.type calls_hidden, @function
calls_hidden:
	sub $8, %rsp
	call hidden_write
	add $8, %rsp
	ret

	.globl unknown_nr
	.type unknown_nr, @function
unknown_nr:
	mov (%rdi), %eax
	syscall
	ret

	.globl eq_zero                /* rax == 0 proven by test/je: read */
	.type eq_zero, @function
eq_zero:
	mov %rsi, %rax
	test %rax, %rax
	je 1f
	ret
1:	syscall
	ret

	.globl low_byte               /* xor %eax,%eax; mov $N,%al */
	.type low_byte, @function
low_byte:
	xor %eax, %eax
	mov $110, %al
	syscall
	ret

	.type impl_a, @function
impl_a:
	mov $102, %eax
	syscall
	ret
	.type impl_b, @function
impl_b:
	mov $107, %eax
	syscall
	ret
	.type resolve_sel, @function
resolve_sel:
	lea impl_a(%rip), %rax
	test %edi, %edi
	je 1f
	lea impl_b(%rip), %rax
1:	ret
	.globl sel
	.type sel, @gnu_indirect_function
	.set sel, resolve_sel

	.globl calls_ifunc
	.type calls_ifunc, @function
calls_ifunc:
	sub $8, %rsp
	call sel@PLT
	add $8, %rsp
	ret

	.globl run_cb                 /* calls its argument */
	.type run_cb, @function
run_cb:
	push %rbx
	mov %rdi, %rbx
	call *%rbx
	pop %rbx
	ret

	.type local_cb, @function
local_cb:
	mov $110, %eax
	syscall
	ret

	.globl passes_local_cb        /* callback resolved at the call site */
	.type passes_local_cb, @function
passes_local_cb:
	lea local_cb(%rip), %rdi
	jmp run_cb

	.globl no_syscalls
	.type no_syscalls, @function
no_syscalls:
	lea 1(%rdi), %rax
	ret

/* rule noreturn: no fall-through after a call of a function that never
 * returns (after_dies follows calls_dies in memory) */
	.type dies, @function
dies:
	mov $60, %eax
	syscall
	hlt
	.globl calls_dies
	.type calls_dies, @function
calls_dies:
	test %rdi, %rdi
	je 1f
	ret
1:	call dies
	.globl after_dies
	.type after_dies, @function
after_dies:
	mov $39, %eax
	syscall
	ret

/* a call that ends an FDE: the compiler emitted no return path */
	.type may_return, @function
may_return:
	test %rdi, %rdi
	je 1f
	mov $60, %eax
	syscall
1:	ret
	.globl fde_end
	.type fde_end, @function
fde_end:
	.cfi_startproc
	call may_return
	.cfi_endproc
	.globl after_fde
	.type after_fde, @function
after_fde:
	mov $110, %eax
	syscall
	ret

/* a gcc-style jump table: exactly its three cases */
	.globl jt_switch
	.type jt_switch, @function
jt_switch:
	cmp $2, %edi
	ja 9f
	mov %edi, %edi
	lea jt_table(%rip), %rdx
	movslq (%rdx,%rdi,4), %rax
	add %rdx, %rax
	jmp *%rax
1:	mov $102, %eax
	syscall
	ret
2:	mov $107, %eax
	syscall
	ret
3:	mov $39, %eax
	syscall
	ret
9:	xor %eax, %eax
	ret
	.section .rodata
	.p2align 2
jt_table:
	.long 1b - jt_table
	.long 2b - jt_table
	.long 3b - jt_table
	.text

/* a callback argument spilled to the stack across a call */
	.globl spill_run
	.type spill_run, @function
spill_run:
	sub $24, %rsp
	mov %rdi, 8(%rsp)
	call no_syscalls
	mov 8(%rsp), %rax
	call *%rax
	add $24, %rsp
	ret
	.globl passes_spilled_cb
	.type passes_spilled_cb, @function
passes_spilled_cb:
	lea local_cb(%rip), %rdi
	jmp spill_run

/* a call through a read-only table (RELRO): the table's functions */
	.globl table_call
	.type table_call, @function
table_call:
	push %rbx
	lea ro_table(%rip), %rbx
	call *(%rbx)
	pop %rbx
	ret
	.section .data.rel.ro,"aw"
	.p2align 3
ro_table:
	.quad impl_a
	.text

/* a call through a pointer of the dynamic loader's data */
	.globl rtld_call
	.type rtld_call, @function
rtld_call:
	mov _rtld_global_ro@GOTPCREL(%rip), %rax
	mov 16(%rax), %rax
	jmp *%rax

	.section .note.GNU-stack,"",@progbits
