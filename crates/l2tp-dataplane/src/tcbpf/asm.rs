//! A small eBPF assembler: enough to write the fast-path programs in Rust, so
//! the build needs no clang and each program is checked by the kernel's
//! verifier when it is loaded.

/// Registers. `R1`-`R5` carry helper arguments, `R0` the result, `R6`-`R9`
/// survive calls, `R10` is the read-only frame pointer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reg(pub u8);

pub const R0: Reg = Reg(0);
pub const R1: Reg = Reg(1);
pub const R2: Reg = Reg(2);
pub const R3: Reg = Reg(3);
pub const R4: Reg = Reg(4);
pub const R5: Reg = Reg(5);
pub const R6: Reg = Reg(6);
pub const R7: Reg = Reg(7);
pub const R8: Reg = Reg(8);
pub const R9: Reg = Reg(9);
pub const FP: Reg = Reg(10);

/// Memory access widths.
#[derive(Clone, Copy, Debug)]
pub enum Size {
    B = 0x10,
    H = 0x08,
    W = 0x00,
    DW = 0x18,
}

/// ALU operations (64-bit).
#[derive(Clone, Copy, Debug)]
pub enum Alu {
    Add = 0x00,
    Sub = 0x10,
    Mul = 0x20,
    Or = 0x40,
    And = 0x50,
    Lsh = 0x60,
    Rsh = 0x70,
    Xor = 0xa0,
    Mov = 0xb0,
}

/// Jump conditions (unsigned unless named otherwise).
#[derive(Clone, Copy, Debug)]
pub enum Cond {
    Eq = 0x10,
    Gt = 0x20,
    Ge = 0x30,
    Set = 0x40,
    Ne = 0x50,
    Sgt = 0x60,
    Sge = 0x70,
    Lt = 0xa0,
    Le = 0xb0,
    Slt = 0xc0,
}

const CLASS_LD: u8 = 0x00;
const CLASS_LDX: u8 = 0x01;
const CLASS_ST: u8 = 0x02;
const CLASS_STX: u8 = 0x03;
const CLASS_ALU: u8 = 0x04;
const CLASS_JMP: u8 = 0x05;
const CLASS_ALU64: u8 = 0x07;
const MODE_MEM: u8 = 0x60;
const SRC_X: u8 = 0x08;
const OP_END: u8 = 0xd0;
const OP_CALL: u8 = 0x80;
const OP_EXIT: u8 = 0x90;
/// `ld_imm64` source marker: the immediate is a map file descriptor.
const PSEUDO_MAP_FD: u8 = 1;

/// One encoded instruction, as `struct bpf_insn`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Insn {
    pub code: u8,
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    fn new(code: u8, dst: Reg, src: Reg, off: i16, imm: i32) -> Self {
        Self {
            code,
            regs: (dst.0 & 0x0f) | (src.0 << 4),
            off,
            imm,
        }
    }

    /// The 8 bytes `bpf(BPF_PROG_LOAD)` takes, as one little-endian word.
    pub fn encode(self) -> u64 {
        let [o0, o1] = self.off.to_le_bytes();
        let [i0, i1, i2, i3] = self.imm.to_le_bytes();
        u64::from_le_bytes([self.code, self.regs, o0, o1, i0, i1, i2, i3])
    }
}

/// A forward or backward jump target, placed with [`Asm::bind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label(usize);

/// Builds a program; jumps name labels and are resolved by [`Asm::finish`].
#[derive(Default)]
pub struct Asm {
    insns: Vec<Insn>,
    labels: Vec<Option<usize>>,
    fixups: Vec<(usize, Label)>,
}

impl Asm {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    /// Places `l` at the next instruction.
    pub fn bind(&mut self, l: Label) {
        self.labels[l.0] = Some(self.insns.len());
    }

    fn push(&mut self, i: Insn) -> &mut Self {
        self.insns.push(i);
        self
    }

    /// `dst = imm` (64-bit, sign-extended 32-bit immediate).
    pub fn mov(&mut self, dst: Reg, imm: i32) -> &mut Self {
        self.alu(Alu::Mov, dst, imm)
    }

    /// `dst = src`.
    pub fn movr(&mut self, dst: Reg, src: Reg) -> &mut Self {
        self.alur(Alu::Mov, dst, src)
    }

    /// `dst op= imm` (64-bit).
    pub fn alu(&mut self, op: Alu, dst: Reg, imm: i32) -> &mut Self {
        self.push(Insn::new(CLASS_ALU64 | op as u8, dst, Reg(0), 0, imm))
    }

    /// `dst op= src` (64-bit).
    pub fn alur(&mut self, op: Alu, dst: Reg, src: Reg) -> &mut Self {
        self.push(Insn::new(CLASS_ALU64 | op as u8 | SRC_X, dst, src, 0, 0))
    }

    /// Byte-swaps the low `bits` of `dst` to big endian (network order)
    /// and zero-extends.
    pub fn be(&mut self, dst: Reg, bits: i32) -> &mut Self {
        self.push(Insn::new(CLASS_ALU | OP_END | SRC_X, dst, Reg(0), 0, bits))
    }

    /// `dst = *(size *)(src + off)`.
    pub fn ldx(&mut self, size: Size, dst: Reg, src: Reg, off: i16) -> &mut Self {
        self.push(Insn::new(
            CLASS_LDX | MODE_MEM | size as u8,
            dst,
            src,
            off,
            0,
        ))
    }

    /// `*(size *)(dst + off) = src`.
    pub fn stx(&mut self, size: Size, dst: Reg, off: i16, src: Reg) -> &mut Self {
        self.push(Insn::new(
            CLASS_STX | MODE_MEM | size as u8,
            dst,
            src,
            off,
            0,
        ))
    }

    /// `*(size *)(dst + off) = imm`.
    pub fn st(&mut self, size: Size, dst: Reg, off: i16, imm: i32) -> &mut Self {
        self.push(Insn::new(
            CLASS_ST | MODE_MEM | size as u8,
            dst,
            Reg(0),
            off,
            imm,
        ))
    }

    /// Loads a map's file descriptor for a helper call (two instructions).
    pub fn ld_map(&mut self, dst: Reg, map_fd: i32) -> &mut Self {
        self.push(Insn::new(
            CLASS_LD | 0x18,
            dst,
            Reg(PSEUDO_MAP_FD),
            0,
            map_fd,
        ));
        self.push(Insn::new(0, Reg(0), Reg(0), 0, 0))
    }

    /// A jump whose offset [`finish`](Self::finish) fills in.
    fn jump(&mut self, i: Insn, target: Label) -> &mut Self {
        self.fixups.push((self.insns.len(), target));
        self.push(i)
    }

    /// `if dst cond imm goto target`.
    pub fn jmp(&mut self, cond: Cond, dst: Reg, imm: i32, target: Label) -> &mut Self {
        self.jump(
            Insn::new(CLASS_JMP | cond as u8, dst, Reg(0), 0, imm),
            target,
        )
    }

    /// `if dst cond src goto target`.
    pub fn jmpr(&mut self, cond: Cond, dst: Reg, src: Reg, target: Label) -> &mut Self {
        self.jump(
            Insn::new(CLASS_JMP | cond as u8 | SRC_X, dst, src, 0, 0),
            target,
        )
    }

    /// `goto target`.
    pub fn ja(&mut self, target: Label) -> &mut Self {
        self.jump(Insn::new(CLASS_JMP, Reg(0), Reg(0), 0, 0), target)
    }

    /// Calls kernel helper number `helper`.
    pub fn call(&mut self, helper: i32) -> &mut Self {
        self.push(Insn::new(CLASS_JMP | OP_CALL, Reg(0), Reg(0), 0, helper))
    }

    /// `return imm`.
    pub fn ret(&mut self, imm: i32) -> &mut Self {
        self.mov(R0, imm);
        self.push(Insn::new(CLASS_JMP | OP_EXIT, Reg(0), Reg(0), 0, 0))
    }

    /// `return r0`.
    pub fn exit(&mut self) -> &mut Self {
        self.push(Insn::new(CLASS_JMP | OP_EXIT, Reg(0), Reg(0), 0, 0))
    }

    /// Resolves jumps. Panics on an unbound label or an out-of-range jump:
    /// both are bugs in the program text, found by the unit tests.
    pub fn finish(mut self) -> Vec<Insn> {
        for (at, label) in std::mem::take(&mut self.fixups) {
            let target = self.labels[label.0].expect("jump to an unbound label");
            let off = target as i64 - at as i64 - 1;
            self.insns[at].off = i16::try_from(off).expect("jump out of range");
        }
        self.insns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_the_kernel() {
        let mut a = Asm::new();
        let l = a.label();
        a.mov(R0, 7); // b7 00 .. 07
        a.jmp(Cond::Eq, R1, 0, l); // 15 01 01 00 00
        a.ldx(Size::W, R2, R1, 40); // 61 12 28 00
        a.bind(l);
        a.be(R3, 16); // dc 03 .. 10
        a.ld_map(R1, 5); // 18 11 .. 05, 00
        a.exit();
        let p = a.finish();
        assert_eq!((p[0].code, p[0].regs, p[0].imm), (0xb7, 0x00, 7));
        assert_eq!((p[1].code, p[1].regs, p[1].off), (0x15, 0x01, 1));
        assert_eq!((p[2].code, p[2].regs, p[2].off), (0x61, 0x12, 40));
        assert_eq!((p[3].code, p[3].regs, p[3].imm), (0xdc, 0x03, 16));
        assert_eq!((p[4].code, p[4].regs, p[4].imm), (0x18, 0x11, 5));
        assert_eq!(p[5], Insn::new(0, R0, R0, 0, 0));
        assert_eq!(p[6].code, 0x95);
        // ldx r2 = *(u32 *)(r1 + 40): 61 12 28 00 00 00 00 00
        assert_eq!(
            p[2].encode().to_le_bytes(),
            [0x61, 0x12, 0x28, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn backward_jumps_resolve() {
        let mut a = Asm::new();
        let top = a.label();
        a.bind(top);
        a.alu(Alu::Add, R1, 1);
        a.jmp(Cond::Lt, R1, 10, top);
        a.ret(0);
        let p = a.finish();
        assert_eq!(p[1].off, -2);
    }
}
