;; The CPU engine's SIMD kernels (WebAssembly, 128-bit SIMD): linear's blockwise decode → weighted
;; sum → ÷ d → encode, the replay of shaders/wsum.wgsl + encode.wgsl that methods/linear/cpu.ts runs
;; in scalar JS, and task arithmetic's delta sum (methods/gta/cpu.ts's plain loop, gta.wgsl). Same bits as that JS: f32 products and sums in input order (acc = 0 + w₀x₀, then
;; acc += wⱼxⱼ, each f32x4 op rounds to f32 exactly like Math.fround), one f32 division, and the
;; codecs of formats/dtype-codec.ts (BF16 / F16 round to nearest even, NaN rules, F16 subnormals).
;;
;; Calling convention (methods/shared/cpu/simd.ts): every pointer is a byte offset into the exported
;; memory, 16-byte aligned; the caller lays out one block (≤ a few thousand elements) per region.
;; Loops run over n rounded UP to a multiple of 4 lanes: the caller's regions are padded, the lanes
;; past n compute on whatever bytes are there (no float op traps) and are never copied out — so there
;; are no tail loops to get wrong.
;;
;; Stored kinds (`kind`): 0 = F32, 1 = BF16, 2 = F16 (little-endian, as in safetensors).
;; Rounding (`round`): 0 = none, 1 = through BF16, 2 = through F16 (a compute dtype, as decodeInto).
;; Build: `npm run build:wasm` (scripts/build-wasm.ts) → src/methods/shared/cpu/wasm-kernels.gen.ts.
(module
  (memory (export "memory") 1)

  ;; ---- codecs on 4 lanes; a 16-bit pattern sits zero-extended in an i32 lane ----

  ;; bf16 → f32: the bf16 pattern is the high half of the f32 pattern
  (func $bf16_to_f32 (param $h v128) (result v128)
    (i32x4.shl (local.get $h) (i32.const 16)))

  ;; f16 → f32, exact. (h & 0x7fff) << 13 read as f32 is the value × 2^-112 for zero, subnormal and
  ;; normal inputs alike, so one multiply by 2^112 (exact: a power of two, no flush-to-zero in wasm)
  ;; rebiases it; exponent 31 (inf / NaN) keeps its mantissa bits under an all-ones exponent, payload
  ;; untouched (no multiply, which would quiet a signalling NaN); the sign is ORed back.
  (func $f16_to_f32 (param $h v128) (result v128)
    (local $em v128)
    (local.set $em
      (i32x4.shl (v128.and (local.get $h) (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff)) (i32.const 13)))
    (v128.or
      (v128.bitselect
        (v128.or (local.get $em) (v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000))
        (f32x4.mul (local.get $em) (v128.const f32x4 0x1p112 0x1p112 0x1p112 0x1p112))
        (i32x4.eq
          (v128.and (local.get $h) (v128.const i32x4 0x7c00 0x7c00 0x7c00 0x7c00))
          (v128.const i32x4 0x7c00 0x7c00 0x7c00 0x7c00)))
      (i32x4.shl (v128.and (local.get $h) (v128.const i32x4 0x8000 0x8000 0x8000 0x8000)) (i32.const 16))))

  ;; f32 → bf16, round to nearest even: add 0x7fff plus the kept lowest bit, keep the high half (a
  ;; carry may reach the exponent: → inf). A NaN keeps its sign and high payload, made quiet (| 0x40).
  (func $f32_to_bf16 (param $b v128) (result v128)
    (v128.bitselect
      (v128.or (i32x4.shr_u (local.get $b) (i32.const 16)) (v128.const i32x4 0x40 0x40 0x40 0x40))
      (i32x4.shr_u
        (i32x4.add
          (local.get $b)
          (i32x4.add
            (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff)
            (v128.and (i32x4.shr_u (local.get $b) (i32.const 16)) (v128.const i32x4 1 1 1 1))))
        (i32.const 16))
      (i32x4.gt_s
        (v128.and (local.get $b) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff))
        (v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000))))

  ;; f32 → f16, round to nearest even, overflow → inf, NaN → quiet 0x7e00 with the sign.
  ;; |x| ≥ 2^-14 (normal f16): rebias by −112 exponents, round the 13 dropped bits to even, clamp at
  ;; inf (0x7c00; a rounding carry into the exponent is right). |x| < 2^-14: |x| + 0.5 in f32 rounds
  ;; |x| to a multiple of 2^-24 (the f16 subnormal step) to nearest even, in the adder; the low bits
  ;; of the sum are the f16 pattern (0x400 when it rounds up to the smallest normal).
  (func $f32_to_f16 (param $b v128) (result v128)
    (local $a v128) (local $r v128)
    (local.set $a (v128.and (local.get $b) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff)))
    (local.set $r
      (v128.bitselect
        (i32x4.sub
          (f32x4.add (local.get $a) (v128.const f32x4 0.5 0.5 0.5 0.5))
          (v128.const i32x4 0x3f000000 0x3f000000 0x3f000000 0x3f000000))
        (i32x4.min_u
          (i32x4.shr_u
            (i32x4.add
              (i32x4.sub (local.get $a) (v128.const i32x4 0x37fff001 0x37fff001 0x37fff001 0x37fff001))
              (v128.and (i32x4.shr_u (local.get $a) (i32.const 13)) (v128.const i32x4 1 1 1 1)))
            (i32.const 13))
          (v128.const i32x4 0x7c00 0x7c00 0x7c00 0x7c00))
        (i32x4.lt_s (local.get $a) (v128.const i32x4 0x38800000 0x38800000 0x38800000 0x38800000))))
    (v128.or
      (v128.bitselect
        (v128.const i32x4 0x7e00 0x7e00 0x7e00 0x7e00)
        (local.get $r)
        (i32x4.gt_s (local.get $a) (v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000)))
      (v128.and (i32x4.shr_u (local.get $b) (i32.const 16)) (v128.const i32x4 0x8000 0x8000 0x8000 0x8000))))

  ;; ---- linear ----

  ;; acc[e] = (first ? 0 : acc[e]) + w·x[e] for e < n (rounded up to 4), x decoded from `src` (kind).
  ;; 0 + w·x turns −0 into +0, as the GPU's acc = 0.0 + w₀x₀ does.
  ;; The add is written (w·x) + acc: IEEE leaves open which NaN an add of two NaNs returns; x86
  ;; returns its first operand's, and V8 evaluates the scalar twin's `acc + w·x` with the product
  ;; first (measured: tests/unit/cpu-simd.test.ts meets NaN with NaN), so this keeps its payload.
  (func (export "wsum") (param $src i32) (param $kind i32) (param $w f32) (param $acc i32) (param $n i32) (param $first i32)
    (local $wv v128) (local $end i32) (local $zero v128) (local $h v128) (local $em v128)
    (local.set $wv (f32x4.splat (local.get $w)))
    (local.set $end (i32.add (local.get $acc) (i32.shl (i32.and (i32.add (local.get $n) (i32.const 3)) (i32.const -4)) (i32.const 2))))
    (if (i32.ge_u (local.get $acc) (local.get $end)) (then (return)))
    (if (i32.eq (local.get $kind) (i32.const 1))
      (then
        (loop $bf16
          (v128.store (local.get $acc)
            (f32x4.add
              (f32x4.mul (local.get $wv) (i32x4.shl (v128.load16x4_u (local.get $src)) (i32.const 16)))
              (select (result v128) (local.get $zero) (v128.load (local.get $acc)) (local.get $first))))
          (local.set $src (i32.add (local.get $src) (i32.const 8)))
          (local.set $acc (i32.add (local.get $acc) (i32.const 16)))
          (br_if $bf16 (i32.lt_u (local.get $acc) (local.get $end))))
        (return)))
    (if (i32.eq (local.get $kind) (i32.const 2))
      (then
        (loop $f16
          ;; $f16_to_f32 written out (a call per 4 lanes costs as much as the codec in Node's V8)
          (local.set $h (v128.load16x4_u (local.get $src)))
          (local.set $em
            (i32x4.shl (v128.and (local.get $h) (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff)) (i32.const 13)))
          (v128.store (local.get $acc)
            (f32x4.add
              (f32x4.mul (local.get $wv)
                (v128.or
                  (v128.bitselect
                    (v128.or (local.get $em) (v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000))
                    (f32x4.mul (local.get $em) (v128.const f32x4 0x1p112 0x1p112 0x1p112 0x1p112))
                    (i32x4.eq
                      (v128.and (local.get $h) (v128.const i32x4 0x7c00 0x7c00 0x7c00 0x7c00))
                      (v128.const i32x4 0x7c00 0x7c00 0x7c00 0x7c00)))
                  (i32x4.shl (v128.and (local.get $h) (v128.const i32x4 0x8000 0x8000 0x8000 0x8000)) (i32.const 16))))
              (select (result v128) (local.get $zero) (v128.load (local.get $acc)) (local.get $first))))
          (local.set $src (i32.add (local.get $src) (i32.const 8)))
          (local.set $acc (i32.add (local.get $acc) (i32.const 16)))
          (br_if $f16 (i32.lt_u (local.get $acc) (local.get $end))))
        (return)))
    (loop $f32
      (v128.store (local.get $acc)
        (f32x4.add
          (f32x4.mul (local.get $wv) (v128.load (local.get $src)))
          (select (result v128) (local.get $zero) (v128.load (local.get $acc)) (local.get $first))))
      (local.set $src (i32.add (local.get $src) (i32.const 16)))
      (local.set $acc (i32.add (local.get $acc) (i32.const 16)))
      (br_if $f32 (i32.lt_u (local.get $acc) (local.get $end)))))

;; ---- task arithmetic (methods/gta/cpu.ts's plain loop: no pruning, no sign consensus) ----

  ;; t = ((x − b)·s)·w, each step f32-rounded (x and b: f32 values, as decode leaves them);
  ;; acc = first ? t : t + acc — the scalar loop's fround(fround(fround(x − b)·s)·w) summed in model
  ;; order, the new term as the add's first operand (which NaN survives NaN + NaN: see wsum).
  (func (export "tsum") (param $x i32) (param $b i32) (param $s f32) (param $w f32) (param $acc i32) (param $n i32) (param $first i32)
    (local $sv v128) (local $wv v128) (local $t v128) (local $end i32)
    (local.set $sv (f32x4.splat (local.get $s)))
    (local.set $wv (f32x4.splat (local.get $w)))
    (local.set $end (i32.add (local.get $acc) (i32.shl (i32.and (i32.add (local.get $n) (i32.const 3)) (i32.const -4)) (i32.const 2))))
    (if (i32.ge_u (local.get $acc) (local.get $end)) (then (return)))
    (loop $next
      (local.set $t
        (f32x4.mul
          (f32x4.mul (f32x4.sub (v128.load (local.get $x)) (v128.load (local.get $b))) (local.get $sv))
          (local.get $wv)))
      (v128.store (local.get $acc)
        (select (result v128) (local.get $t) (f32x4.add (local.get $t) (v128.load (local.get $acc))) (local.get $first)))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (local.set $b (i32.add (local.get $b) (i32.const 16)))
      (local.set $acc (i32.add (local.get $acc) (i32.const 16)))
      (br_if $next (i32.lt_u (local.get $acc) (local.get $end)))))

  ;; dst[e] = encode(b + m) as `kind`, m = acc (÷ d when `divide`, then × λ when `scale`): the
  ;; scalar loop's base + post(sum), written m + b for the NaN rule (see wsum); BF16 encoded inline.
  (func (export "tfinish") (param $acc i32) (param $b i32) (param $divide i32) (param $d f32) (param $scale i32) (param $lambda f32) (param $kind i32) (param $dst i32) (param $n i32)
    (local $dv v128) (local $lv v128) (local $x v128) (local $end i32)
    (local.set $dv (f32x4.splat (local.get $d)))
    (local.set $lv (f32x4.splat (local.get $lambda)))
    (local.set $end (i32.add (local.get $acc) (i32.shl (i32.and (i32.add (local.get $n) (i32.const 3)) (i32.const -4)) (i32.const 2))))
    (if (i32.ge_u (local.get $acc) (local.get $end)) (then (return)))
    (loop $next
      (local.set $x (v128.load (local.get $acc)))
      (if (local.get $divide) (then (local.set $x (f32x4.div (local.get $x) (local.get $dv)))))
      (if (local.get $scale) (then (local.set $x (f32x4.mul (local.get $x) (local.get $lv)))))
      (local.set $x (f32x4.add (local.get $x) (v128.load (local.get $b))))
      (if (i32.eqz (local.get $kind))
        (then
          (v128.store (local.get $dst) (local.get $x))
          (local.set $dst (i32.add (local.get $dst) (i32.const 16))))
        (else
          (if (i32.eq (local.get $kind) (i32.const 1))
            (then (local.set $x (v128.bitselect
              (v128.or (i32x4.shr_u (local.get $x) (i32.const 16)) (v128.const i32x4 0x40 0x40 0x40 0x40))
              (i32x4.shr_u
                (i32x4.add
                  (local.get $x)
                  (i32x4.add
                    (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff)
                    (v128.and (i32x4.shr_u (local.get $x) (i32.const 16)) (v128.const i32x4 1 1 1 1))))
                (i32.const 16))
              (i32x4.gt_s
                (v128.and (local.get $x) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff))
                (v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000)))))
            (else (local.set $x (call $f32_to_f16 (local.get $x)))))
          (v128.store64_lane 0 (local.get $dst) (i16x8.narrow_i32x4_u (local.get $x) (local.get $x)))
          (local.set $dst (i32.add (local.get $dst) (i32.const 8)))))
      (local.set $acc (i32.add (local.get $acc) (i32.const 16)))
      (local.set $b (i32.add (local.get $b) (i32.const 16)))
      (br_if $next (i32.lt_u (local.get $acc) (local.get $end)))))

;; ---- the generalized task arithmetic family's apply sweep (gta/cpu.ts: ties, dare_*, breadcrumbs…) ----

  ;; W[e] = fround(fround(d·s)·w), d = x[e] − b[e] (f32) where element e is kept, else +0. `mask`
  ;; (0: none, every element kept) points at the block's keep bits, bit e of word e/32 (the block
  ;; starts on a word boundary); each 4-lane group takes 4 bits of its word.
  (func (export "gw") (param $x i32) (param $b i32) (param $mask i32) (param $s f32) (param $w f32) (param $out i32) (param $n i32)
    (local $sv v128) (local $wv v128) (local $d v128) (local $end i32) (local $g i32)
    (local.set $sv (f32x4.splat (local.get $s)))
    (local.set $wv (f32x4.splat (local.get $w)))
    (local.set $end (i32.add (local.get $out) (i32.shl (i32.and (i32.add (local.get $n) (i32.const 3)) (i32.const -4)) (i32.const 2))))
    (if (i32.ge_u (local.get $out) (local.get $end)) (then (return)))
    (loop $next
      (local.set $d (f32x4.sub (v128.load (local.get $x)) (v128.load (local.get $b))))
      (if (local.get $mask)
        (then
          ;; lanes whose bit is clear get +0 (the GPU's and the scalar loop's d = 0)
          (local.set $d
            (v128.and
              (local.get $d)
              (i32x4.ne
                (v128.and
                  (i32x4.splat
                    (i32.shr_u
                      (i32.load (i32.add (local.get $mask) (i32.shl (i32.shr_u (local.get $g) (i32.const 3)) (i32.const 2))))
                      (i32.shl (i32.and (local.get $g) (i32.const 7)) (i32.const 2))))
                  (v128.const i32x4 1 2 4 8))
                (v128.const i32x4 0 0 0 0))))))
      ;; s·d, not d·s: a rescale factor can be NaN (an L1 norm over NaN inputs), and when d is NaN too
      ;; the scalar loop's fround(d·sk) keeps sk's NaN (V8 puts sk first; x86 keeps the first NaN)
      (v128.store (local.get $out) (f32x4.mul (f32x4.mul (local.get $sv) (local.get $d)) (local.get $wv)))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (local.set $b (i32.add (local.get $b) (i32.const 16)))
      (local.set $out (i32.add (local.get $out) (i32.const 16)))
      (local.set $g (i32.add (local.get $g) (i32.const 1)))
      (br_if $next (i32.lt_u (local.get $out) (local.get $end)))))

  ;; acc = first ? W : W + acc (model order; the new term first for the NaN rule, see wsum)
  (func (export "gsum") (param $w i32) (param $acc i32) (param $n i32) (param $first i32)
    (local $end i32) (local $t v128)
    (local.set $end (i32.add (local.get $acc) (i32.shl (i32.and (i32.add (local.get $n) (i32.const 3)) (i32.const -4)) (i32.const 2))))
    (if (i32.ge_u (local.get $acc) (local.get $end)) (then (return)))
    (loop $next
      (local.set $t (v128.load (local.get $w)))
      (v128.store (local.get $acc)
        (select (result v128) (local.get $t) (f32x4.add (local.get $t) (v128.load (local.get $acc))) (local.get $first)))
      (local.set $w (i32.add (local.get $w) (i32.const 16)))
      (local.set $acc (i32.add (local.get $acc) (i32.const 16)))
      (br_if $next (i32.lt_u (local.get $acc) (local.get $end)))))

  ;; The sign election of one model: agree = (S ≥ 0 ? W > 0 : W < 0) (zeros and NaN never agree);
  ;; first model: mixed = agree ? W : +0, div = agree ? wk : +0; later ones: mixed = agree ? W + mixed
  ;; : mixed + 0 (−0 + 0 is +0), div = agree ? div + wk : div — gta.wgsl's gta_agree, in order.
  (func (export "gagree") (param $w i32) (param $sum i32) (param $mixed i32) (param $div i32) (param $wk f32) (param $n i32) (param $first i32)
    (local $end i32) (local $x v128) (local $agree v128) (local $wkv v128) (local $m v128) (local $dv v128)
    (local.set $wkv (f32x4.splat (local.get $wk)))
    (local.set $end (i32.add (local.get $w) (i32.shl (i32.and (i32.add (local.get $n) (i32.const 3)) (i32.const -4)) (i32.const 2))))
    (if (i32.ge_u (local.get $w) (local.get $end)) (then (return)))
    (loop $next
      (local.set $x (v128.load (local.get $w)))
      (local.set $agree
        (v128.bitselect
          (f32x4.gt (local.get $x) (v128.const f32x4 0 0 0 0))
          (f32x4.lt (local.get $x) (v128.const f32x4 0 0 0 0))
          (f32x4.ge (v128.load (local.get $sum)) (v128.const f32x4 0 0 0 0))))
      (if (local.get $first)
        (then
          (v128.store (local.get $mixed) (v128.and (local.get $x) (local.get $agree)))
          (v128.store (local.get $div) (v128.and (local.get $wkv) (local.get $agree))))
        (else
          (local.set $m (v128.load (local.get $mixed)))
          (local.set $dv (v128.load (local.get $div)))
          (v128.store (local.get $mixed)
            (v128.bitselect
              (f32x4.add (local.get $x) (local.get $m))
              (f32x4.add (local.get $m) (v128.const f32x4 0 0 0 0))
              (local.get $agree)))
          (v128.store (local.get $div)
            (v128.bitselect (f32x4.add (local.get $dv) (local.get $wkv)) (local.get $dv) (local.get $agree)))))
      (local.set $w (i32.add (local.get $w) (i32.const 16)))
      (local.set $sum (i32.add (local.get $sum) (i32.const 16)))
      (local.set $mixed (i32.add (local.get $mixed) (i32.const 16)))
      (local.set $div (i32.add (local.get $div) (i32.const 16)))
      (br_if $next (i32.lt_u (local.get $w) (local.get $end)))))

  ;; dst = encode(b + m) as `kind`, m = mixed (÷ (div = 0 ? 1 : div) when `normalize`, × λ when
  ;; `scale`) — the consensus finish; m + b for the NaN rule.
  (func (export "cfinish") (param $mixed i32) (param $div i32) (param $b i32) (param $normalize i32) (param $scale i32) (param $lambda f32) (param $kind i32) (param $dst i32) (param $n i32)
    (local $lv v128) (local $x v128) (local $dv v128) (local $end i32)
    (local.set $lv (f32x4.splat (local.get $lambda)))
    (local.set $end (i32.add (local.get $mixed) (i32.shl (i32.and (i32.add (local.get $n) (i32.const 3)) (i32.const -4)) (i32.const 2))))
    (if (i32.ge_u (local.get $mixed) (local.get $end)) (then (return)))
    (loop $next
      (local.set $x (v128.load (local.get $mixed)))
      (if (local.get $normalize)
        (then
          (local.set $dv (v128.load (local.get $div)))
          (local.set $x
            (f32x4.div (local.get $x)
              (v128.bitselect (v128.const f32x4 1 1 1 1) (local.get $dv) (f32x4.eq (local.get $dv) (v128.const f32x4 0 0 0 0)))))))
      (if (local.get $scale) (then (local.set $x (f32x4.mul (local.get $x) (local.get $lv)))))
      (local.set $x (f32x4.add (local.get $x) (v128.load (local.get $b))))
      (if (i32.eqz (local.get $kind))
        (then
          (v128.store (local.get $dst) (local.get $x))
          (local.set $dst (i32.add (local.get $dst) (i32.const 16))))
        (else
          (if (i32.eq (local.get $kind) (i32.const 1))
            (then (local.set $x (call $f32_to_bf16 (local.get $x))))
            (else (local.set $x (call $f32_to_f16 (local.get $x)))))
          (v128.store64_lane 0 (local.get $dst) (i16x8.narrow_i32x4_u (local.get $x) (local.get $x)))
          (local.set $dst (i32.add (local.get $dst) (i32.const 8)))))
      (local.set $mixed (i32.add (local.get $mixed) (i32.const 16)))
      (local.set $div (i32.add (local.get $div) (i32.const 16)))
      (local.set $b (i32.add (local.get $b) (i32.const 16)))
      (br_if $next (i32.lt_u (local.get $mixed) (local.get $end)))))

  ;; dst[e] = x[e] decoded from `src` (kind), then rounded through `round` — for inputs whose compute
  ;; dtype differs from the stored one (decodeInto's roundTo); wsum then reads dst as F32.
  (func (export "decode") (param $src i32) (param $kind i32) (param $round i32) (param $dst i32) (param $n i32)
    (local $end i32) (local $x v128) (local $step i32)
    (local.set $end (i32.add (local.get $dst) (i32.shl (i32.and (i32.add (local.get $n) (i32.const 3)) (i32.const -4)) (i32.const 2))))
    (local.set $step (select (i32.const 16) (i32.const 8) (i32.eqz (local.get $kind))))
    ;; BF16 as stored (the usual input): one shift per lane, no branches or calls in the loop
    (if (i32.and (i32.eq (local.get $kind) (i32.const 1)) (i32.eqz (local.get $round)))
      (then
        (block $bdone
          (loop $bnext
            (br_if $bdone (i32.ge_u (local.get $dst) (local.get $end)))
            (v128.store (local.get $dst) (i32x4.shl (v128.load16x4_u (local.get $src)) (i32.const 16)))
            (local.set $src (i32.add (local.get $src) (i32.const 8)))
            (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
            (br $bnext)))
        (return)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $dst) (local.get $end)))
        (local.set $x
          (if (result v128) (i32.eqz (local.get $kind))
            (then (v128.load (local.get $src)))
            (else
              (if (result v128) (i32.eq (local.get $kind) (i32.const 1))
                (then (call $bf16_to_f32 (v128.load16x4_u (local.get $src))))
                (else (call $f16_to_f32 (v128.load16x4_u (local.get $src))))))))
        (if (i32.eq (local.get $round) (i32.const 1))
          (then (local.set $x (call $bf16_to_f32 (call $f32_to_bf16 (local.get $x))))))
        (if (i32.eq (local.get $round) (i32.const 2))
          (then (local.set $x (call $f16_to_f32 (call $f32_to_f16 (local.get $x))))))
        (v128.store (local.get $dst) (local.get $x))
        (local.set $src (i32.add (local.get $src) (local.get $step)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
        (br $next))))

  ;; dst[e] = encode(divide ? acc[e] / d : acc[e]) as `kind` (F32 / BF16 / F16 bytes). BF16, the
  ;; common output, has its codec written out in the loop ($f32_to_bf16's steps): a call per 4 lanes
  ;; costs as much as the codec where the engine does not inline wasm calls.
  (func (export "finish") (param $acc i32) (param $divide i32) (param $d f32) (param $kind i32) (param $dst i32) (param $n i32)
    (local $end i32) (local $dv v128) (local $x v128)
    (local.set $dv (f32x4.splat (local.get $d)))
    (local.set $end (i32.add (local.get $acc) (i32.shl (i32.and (i32.add (local.get $n) (i32.const 3)) (i32.const -4)) (i32.const 2))))
    (if (i32.ge_u (local.get $acc) (local.get $end)) (then (return)))
    (if (i32.eq (local.get $kind) (i32.const 1))
      (then
        (loop $bf16
          (local.set $x (v128.load (local.get $acc)))
          (if (local.get $divide) (then (local.set $x (f32x4.div (local.get $x) (local.get $dv)))))
          (local.set $x
            (v128.bitselect
              (v128.or (i32x4.shr_u (local.get $x) (i32.const 16)) (v128.const i32x4 0x40 0x40 0x40 0x40))
              (i32x4.shr_u
                (i32x4.add
                  (local.get $x)
                  (i32x4.add
                    (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff)
                    (v128.and (i32x4.shr_u (local.get $x) (i32.const 16)) (v128.const i32x4 1 1 1 1))))
                (i32.const 16))
              (i32x4.gt_s
                (v128.and (local.get $x) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff))
                (v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000))))
          (v128.store64_lane 0 (local.get $dst) (i16x8.narrow_i32x4_u (local.get $x) (local.get $x)))
          (local.set $dst (i32.add (local.get $dst) (i32.const 8)))
          (local.set $acc (i32.add (local.get $acc) (i32.const 16)))
          (br_if $bf16 (i32.lt_u (local.get $acc) (local.get $end))))
        (return)))
    (loop $next
      (local.set $x (v128.load (local.get $acc)))
      (if (local.get $divide) (then (local.set $x (f32x4.div (local.get $x) (local.get $dv)))))
      (if (i32.eqz (local.get $kind))
        (then
          (v128.store (local.get $dst) (local.get $x))
          (local.set $dst (i32.add (local.get $dst) (i32.const 16))))
        (else
          (local.set $x (call $f32_to_f16 (local.get $x)))
          (v128.store64_lane 0 (local.get $dst) (i16x8.narrow_i32x4_u (local.get $x) (local.get $x)))
          (local.set $dst (i32.add (local.get $dst) (i32.const 8)))))
      (local.set $acc (i32.add (local.get $acc) (i32.const 16)))
      (br_if $next (i32.lt_u (local.get $acc) (local.get $end)))))
)
