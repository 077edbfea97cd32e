/// Whether an engine's failure means the device ran out of memory, so that the fix is `tpudeploy fix-memory`
/// and not a restart. The engine passes on what libsophon printed while it loaded the model; these are the
/// runtime's own out-of-memory lines (sophgo/libsophon: bmlib/src/bmlib_memory.cpp for libbmlib,
/// tpu-runtime/src/bmruntime_bmodel.cpp `BmCoeff::Register` and tpu-runtime/src/bmruntime.cpp
/// `must_alloc_device_mem` for libbmrt), plus the engine's own summary of them.
public enum DeviceMemoryShortage {
    /// Lower-cased phrases, any of which marks a shortage.
    static let phrases = [
        "bm_alloc_gmem failed",  // libbmlib: no ion heap could hold an allocation
        "coeff alloc failed",  // libbmrt: a model's weights
        "device mem alloc failed",  // libbmrt: neuron memory and other buffers
        "out of device memory",  // tpu-llm-engine's summary of the above
        "npu heap too small",  // earlier engines and simulators
        "bm_err_nomem",
    ]

    /// True when `text` (an engine's load error, a log tail) reports the device out of memory.
    public static func isReported(in text: String) -> Bool {
        let text = text.lowercased()
        return phrases.contains { text.contains($0) }
    }
}
