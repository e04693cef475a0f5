import type { RuntimeHelper } from "./python-ops.js";

/**
 * The fixed Python parts of an exported model.py: the Block base class, the helpers some ops need (written only
 * when used), and the safetensors reader/writer (the `safetensors` package when installed, else these ~40 lines
 * of stdlib + torch, since Debian ships no package for it). Kept as strings so they ship inside dist/.
 */

export const RUNTIME_BLOCK = `class Block(nn.Module):
    """Base of the generated classes. block[0] and block["name"] reach submodules whose names are not
    Python identifiers (nn.Sequential-style "0", "1", ...): the names stay convkit's parameter names."""

    def __getitem__(self, name):
        return getattr(self, str(name))
`;

const HELPERS: Record<Exclude<RuntimeHelper, "DeformConv2d" | "deform_conv2d">, string> = {
  channel_shuffle: `def channel_shuffle(x, groups):
    """ShuffleNet's channel shuffle: [N, g*k, H, W] -> view [N, g, k, H, W] -> swap g and k -> flatten back
    (what nn.ChannelShuffle computes; written out because nn.ChannelShuffle has no backward in torch 1.13)."""
    n, c, h, w = x.shape
    return x.reshape(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)
`,
  pad_max_pool2d: `def pool_out_size(size, kernel, before, after, stride, dilation, ceil_mode):
    """PyTorch's pooling output length for padding (before, after); in ceil mode a last window starting
    inside the right padding is dropped."""
    span = size + before + after - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)
    out = span // stride + 1
    if ceil_mode and (out - 1) * stride >= size + before:
        out -= 1
    return out


def pad_max_pool2d(x, kernel_size, stride, padding, dilation=1, ceil_mode=False):
    """max_pool2d with explicit (top, left, bottom, right) padding: pad with -inf, pool, crop to the size
    PyTorch's rule gives for that padding (torch pads symmetrically only)."""
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    dh, dw = (dilation, dilation) if isinstance(dilation, int) else dilation
    top, left, bottom, right = padding
    h, w = x.shape[-2:]
    y = F.max_pool2d(F.pad(x, (left, right, top, bottom), value=-math.inf), (kh, kw), (sh, sw), 0, (dh, dw), ceil_mode)
    oh = pool_out_size(h, kh, top, bottom, sh, dh, ceil_mode)
    ow = pool_out_size(w, kw, left, right, sw, dw, ceil_mode)
    return y[..., :oh, :ow]
`,
  pad_avg_pool2d: `def pad_avg_pool2d(x, kernel_size, stride, padding, ceil_mode=False, count_include_pad=True,
                   divisor_override=None):
    """avg_pool2d with explicit (top, left, bottom, right) zero padding, PyTorch's divisor rules: the padding
    counts when count_include_pad (never the ceil-mode overhang); otherwise only the pixels inside the image."""
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    top, left, bottom, right = padding
    h, w = x.shape[-2:]
    pads = (left, right, top, bottom)
    if count_include_pad or divisor_override:
        y = F.avg_pool2d(F.pad(x, pads), (kh, kw), (sh, sw), 0, ceil_mode, True, divisor_override)
    else:
        total = F.avg_pool2d(F.pad(x, pads), (kh, kw), (sh, sw), 0, ceil_mode, True, 1)
        count = F.avg_pool2d(F.pad(torch.ones_like(x[:1, :1]), pads), (kh, kw), (sh, sw), 0, ceil_mode, True, 1)
        y = total / count
    oh = pool_out_size(h, kh, top, bottom, sh, 1, ceil_mode)
    ow = pool_out_size(w, kw, left, right, sw, 1, ceil_mode)
    return y[..., :oh, :ow]
`,
  batch_norm: `def batch_norm(x, weight, bias, running_mean, running_var, num_batches_tracked, training, momentum, eps):
    """nn.BatchNorm2d.forward on parameters held elsewhere: in training num_batches_tracked += 1, and
    momentum None means a cumulative average (1 / num_batches_tracked)."""
    if running_mean is None:
        return F.batch_norm(x, None, None, weight, bias, True, 0.0, eps)
    factor = 0.0 if momentum is None else momentum
    if training:
        num_batches_tracked.add_(1)
        if momentum is None:
            factor = 1.0 / float(num_batches_tracked)
    return F.batch_norm(x, running_mean, running_var, weight, bias, training, factor, eps)
`,
  Constant: `class Constant(nn.Module):
    """A fixed tensor (a buffer named "value"), filled by load_weights."""

    def __init__(self, shape):
        super().__init__()
        self.register_buffer("value", torch.zeros(shape))

    def forward(self):
        return self.value
`,
  new_weight: `def new_weight(*shape):
    """A weight initialised as nn.Conv2d / nn.Linear do (kaiming uniform, a = sqrt(5))."""
    weight = nn.Parameter(torch.empty(shape))
    nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
    return weight
`,
  new_bias: `def new_bias(size, fan_in):
    """A bias initialised as nn.Conv2d / nn.Linear do: uniform in +-1/sqrt(fan_in)."""
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return nn.Parameter(torch.empty(size).uniform_(-bound, bound))
`,
};

/** The helper definitions for the given helpers, in a fixed order. */
export function runtimeHelpers(used: ReadonlySet<RuntimeHelper>): string[] {
  const order: (keyof typeof HELPERS)[] = [
    "channel_shuffle",
    "pad_max_pool2d",
    "pad_avg_pool2d",
    "batch_norm",
    "Constant",
    "new_weight",
    "new_bias",
  ];
  const out: string[] = [];
  // pad_avg_pool2d reuses pool_out_size, defined with pad_max_pool2d.
  const needPoolSize = used.has("pad_avg_pool2d") && !used.has("pad_max_pool2d");
  for (const name of order) {
    if (!used.has(name)) continue;
    if (name === "pad_avg_pool2d" && needPoolSize) {
      const max = HELPERS.pad_max_pool2d;
      out.push(max.slice(0, max.indexOf("\n\n\ndef pad_max_pool2d")));
    }
    out.push(HELPERS[name]);
  }
  return out;
}

/** The weight I/O section of model.py (always present). */
export const RUNTIME_WEIGHTS = `# ------------------------------------------------------------------------------------------ weights

_ST_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
              "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
              "BOOL": torch.bool}
_ST_NAMES = {dtype: name for name, dtype in _ST_DTYPES.items()}


def read_safetensors(path):
    """{name: tensor} of a safetensors file: with the safetensors package when installed, else this reader
    (8-byte little-endian header length, JSON header, row-major little-endian data)."""
    try:
        from safetensors.torch import load_file
    except ImportError:
        load_file = None
    if load_file is not None:
        return load_file(path)
    if sys.byteorder != "little":
        raise RuntimeError("reading safetensors on a big-endian machine needs the safetensors package")
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError("%s: not a safetensors file (%d bytes)" % (path, len(blob)))
    (size,) = struct.unpack("<Q", blob[:8])
    if 8 + size > len(blob):
        raise ValueError("%s: truncated safetensors header" % path)
    header = json.loads(blob[8:8 + size].decode("utf-8"))
    data = memoryview(blob)[8 + size:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _ST_DTYPES.get(info["dtype"])
        if dtype is None:
            raise ValueError("%s: tensor %r: unsupported dtype %s" % (path, name, info["dtype"]))
        begin, end = info["data_offsets"]
        if end > begin:
            flat = torch.frombuffer(bytearray(data[begin:end]), dtype=dtype)
        else:
            flat = torch.empty(0, dtype=dtype)
        tensors[name] = flat.reshape(info["shape"])
    return tensors


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: tensor} as safetensors (any dtype above), atomically (temporary file, then rename)."""
    header, chunks, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, tensor in tensors.items():
        t = tensor.detach().to("cpu").contiguous()
        if t.dtype not in _ST_NAMES:
            raise ValueError("tensor %r: dtype %s cannot be written" % (name, t.dtype))
        raw = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() > 0 else b""
        header[name] = {"dtype": _ST_NAMES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        chunks.append(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    tmp = "%s.tmp-%d" % (path, os.getpid())
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in chunks:
            f.write(raw)
    os.replace(tmp, path)


def unwrap(model):
    """The model inside DistributedDataParallel / DataParallel wrappers."""
    while isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
        model = model.module
    return model


def load_weights(model, path, strict=True):
    """Loads a safetensors state dict (convkit's weights.safetensors, or one saved by save_weights)."""
    return unwrap(model).load_state_dict(read_safetensors(path), strict=strict)


def save_weights(model, path, metadata=None):
    """Saves the state dict as safetensors; convkit reads it back (loadPytorchStateDict, or as the
    weights.safetensors of a saved model folder next to graph.json)."""
    write_safetensors(path, unwrap(model).state_dict(), metadata)
`;
