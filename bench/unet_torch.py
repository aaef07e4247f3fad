"""bench/unet_torch.py - the PyTorch twin of bench/unet.lua: the same U-Net
(layer for layer, as lua/crystens/nn.lua builds it), one training step =
forward + backward + Adam, on the CPU with the given number of threads.

    /usr/bin/python3 bench/unet_torch.py [steps=3] [batch=16] [threads=2]

With --gpu, the twin of bench/unet_gpu.lua: PyTorch eager on CUDA, one line
per configuration "torch-gpu S BATCH PRECISION MEDIAN_MS SAMPLES_PER_S
PEAK_MIB" (fp32: TF32 off for matmuls and cuDNN; tf32: on; bf16: autocast
to bfloat16 with fp32 weights):

    python3 bench/unet_torch.py --gpu STEPS "32,64" "16,64,256" "fp32,tf32,bf16"
"""
import math
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:
    print("torch: not installed")
    sys.exit(0)


def timestep_embedding(t, dim, max_period=10000.0):
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    a = t[:, None].float() * freqs[None]
    return torch.cat([torch.cos(a), torch.sin(a)], dim=1)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, temb, groups):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.temb_proj = nn.Linear(temb, cout)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.temb_proj(F.silu(emb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + (self.skip(x) if self.skip is not None else x)


class AttnBlock(nn.Module):
    """Single head: qkv 1x1 projection, softmax(QᵀK/√c), output projection."""

    def __init__(self, ch, groups):
        super().__init__()
        self.norm = nn.GroupNorm(groups, ch)
        self.qkv = nn.Conv2d(ch, 3 * ch, 1)
        self.proj = nn.Conv2d(ch, ch, 1)

    def forward(self, x):
        n, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(n, 3, c, h * w).unbind(1)
        a = torch.softmax(torch.bmm(q.transpose(1, 2), k) / math.sqrt(c), dim=2)
        o = torch.bmm(v, a.transpose(1, 2)).reshape(n, c, h, w)
        return x + self.proj(o)


class UNet(nn.Module):
    def __init__(self, in_ch=4, size=32, base=64, mults=(1, 2, 2), nres=2, attn=(8,), groups=8):
        super().__init__()
        temb = 4 * base
        self.base = base
        self.temb = nn.Sequential(nn.Linear(base, temb), nn.SiLU(), nn.Linear(temb, temb))
        self.conv_in = nn.Conv2d(in_ch, base, 3, padding=1)
        self.down = nn.ModuleList()
        skips, ch, res = [base], base, size
        for i, mult in enumerate(mults):
            for _ in range(nres):
                blk = nn.ModuleList([ResBlock(ch, base * mult, temb, groups)])
                ch = base * mult
                if res in attn:
                    blk.append(AttnBlock(ch, groups))
                self.down.append(blk)
                skips.append(ch)
            if i < len(mults) - 1:
                self.down.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
                skips.append(ch)
                res //= 2
        self.mid1 = ResBlock(ch, ch, temb, groups)
        self.mid_attn = AttnBlock(ch, groups)
        self.mid2 = ResBlock(ch, ch, temb, groups)
        self.up = nn.ModuleList()
        for i in reversed(range(len(mults))):
            for _ in range(nres + 1):
                blk = nn.ModuleList([ResBlock(ch + skips.pop(), base * mults[i], temb, groups)])
                ch = base * mults[i]
                if res in attn:
                    blk.append(AttnBlock(ch, groups))
                self.up.append(blk)
            if i > 0:
                self.up.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                             nn.Conv2d(ch, ch, 3, padding=1)))
                res *= 2
        self.norm_out = nn.GroupNorm(groups, ch)
        self.conv_out = nn.Conv2d(ch, in_ch, 3, padding=1)

    def run(self, blk, h, emb):
        if isinstance(blk, nn.ModuleList):
            h = blk[0](h, emb)
            return blk[1](h) if len(blk) > 1 else h
        return blk(h)

    def forward(self, x, t):
        emb = self.temb(timestep_embedding(t, self.base))
        h = self.conv_in(x)
        hs = [h]
        for blk in self.down:
            h = self.run(blk, h, emb)
            hs.append(h)
        h = self.mid2(self.mid_attn(self.mid1(h, emb)), emb)
        for blk in self.up:
            if isinstance(blk, nn.ModuleList):
                h = torch.cat([h, hs.pop()], dim=1)
            h = self.run(blk, h, emb)
        return self.conv_out(F.silu(self.norm_out(h)))


def gpu_main(steps, sizes, batches, precs):
    if not torch.cuda.is_available():
        print("torch-gpu: CUDA not available")
        return
    dev = torch.device("cuda")
    print(f"PyTorch {torch.__version__} on {torch.cuda.get_device_name(0)}")
    for size in sizes:
        for batch in batches:
            for prec in precs:
                tf32 = prec == "tf32"
                torch.backends.cuda.matmul.allow_tf32 = tf32
                torch.backends.cudnn.allow_tf32 = tf32
                torch.manual_seed(0)
                model = UNet(size=size).to(dev)
                opt = torch.optim.Adam(model.parameters(), lr=2e-4)
                x = torch.randn(batch, 4, size, size, device=dev)
                noise = torch.randn(batch, 4, size, size, device=dev)
                t = torch.rand(batch, device=dev) * 1000

                def step():
                    opt.zero_grad(set_to_none=True)
                    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=prec == "bf16"):
                        loss = F.mse_loss(model(x, t).float(), noise)
                    loss.backward()
                    opt.step()

                try:
                    step()
                    step()
                    torch.cuda.synchronize()
                    torch.cuda.reset_peak_memory_stats()
                    times = []
                    for _ in range(steps):
                        t0 = time.perf_counter()
                        step()
                        torch.cuda.synchronize()
                        times.append(time.perf_counter() - t0)
                    times.sort()
                    med = times[(len(times) - 1) // 2]
                    peak = torch.cuda.max_memory_allocated() / 2**20
                    print(f"torch-gpu {size} {batch} {prec} {med * 1e3:.2f} {batch / med:.1f} "
                          f"{peak:.0f}", flush=True)
                except torch.cuda.OutOfMemoryError:
                    print(f"torch-gpu {size} {batch} {prec} oom", flush=True)
                del model, opt, x, noise, t
                torch.cuda.empty_cache()


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--gpu":
        ints = lambda s: [int(v) for v in s.split(",")]
        gpu_main(int(sys.argv[2]), ints(sys.argv[3]), ints(sys.argv[4]), sys.argv[5].split(","))
        return
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    torch.set_num_threads(int(sys.argv[3]) if len(sys.argv) > 3 else 2)
    torch.manual_seed(0)
    model = UNet()
    opt = torch.optim.Adam(model.parameters(), lr=2e-4)
    x, noise = torch.randn(batch, 4, 32, 32), torch.randn(batch, 4, 32, 32)
    t = torch.rand(batch) * 1000

    def step():
        opt.zero_grad()
        loss = F.mse_loss(model(x, t), noise)
        loss.backward()
        opt.step()
        return loss.item()

    nparams = sum(p.numel() for p in model.parameters())
    print(f"PyTorch {torch.__version__} U-Net: {nparams} parameters, batch {batch}, "
          f"{torch.get_num_threads()} threads")
    step()
    times, cpus = [], []
    for i in range(steps):
        t0, c0 = time.perf_counter(), time.process_time()
        loss = step()
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        print(f"  step {i + 1}: {times[-1]:.3f} s, CPU {cpus[-1]:.3f} s  (loss {loss:.4f})")
    times.sort()
    median = times[(len(times) - 1) // 2]
    print(f"torch: best {times[0]:.3f} s/step, median {median:.3f} s/step, "
          f"{batch / median:.1f} samples/s")
    print(f"torch CPU: best {min(cpus):.3f} s/step")


if __name__ == "__main__":
    main()
