/// Which of fix-memory's ways of naming a layout were given on the command line, checked before anything is
/// read: exactly one of sizes, a preset or a model, or `--rollback` alone.
public struct LayoutRequestFlags: Sendable, Equatable {
    public var npu: UInt64?
    public var vpu: UInt64?
    public var vpp: UInt64?
    public var preset: String?
    public var forModel: String?
    public var rollback: Bool
    public var image: String?

    public init(npu: UInt64? = nil, vpu: UInt64? = nil, vpp: UInt64? = nil, preset: String? = nil,
                forModel: String? = nil, rollback: Bool = false, image: String? = nil) {
        self.npu = npu
        self.vpu = vpu
        self.vpp = vpp
        self.preset = preset
        self.forModel = forModel
        self.rollback = rollback
        self.image = image
    }

    /// The layout flags given, as the user typed them.
    var given: [String] {
        var flags: [String] = []
        let sizes = [("--npu", npu), ("--vpu", vpu), ("--vpp", vpp)].compactMap { name, value in value.map { "\(name) \($0)" } }
        if !sizes.isEmpty { flags.append(sizes.joined(separator: " ")) }
        if let preset { flags.append("--preset \(preset)") }
        if let forModel { flags.append("--for-model \(forModel)") }
        return flags
    }

    /// Throws when the flags do not name exactly one layout (or a rollback alone), saying which to keep.
    public func check() throws {
        let given = self.given
        if rollback {
            if !given.isEmpty || image != nil {
                throw LayoutRequestError.rollbackTakesNoLayout(given: given + (image.map { ["--image \($0)"] } ?? []))
            }
            return
        }
        if given.isEmpty { throw LayoutRequestError.noLayout }
        if given.count > 1 { throw LayoutRequestError.conflicting(given: given) }
        if npu != nil || vpu != nil || vpp != nil, npu == nil || vpu == nil || vpp == nil {
            let missing = [("--npu", npu), ("--vpu", vpu), ("--vpp", vpp)].filter { $0.1 == nil }.map(\.0)
            throw LayoutRequestError.incompleteSizes(missing: missing)
        }
    }
}

/// A fix-memory command line that does not say which one layout it wants.
public enum LayoutRequestError: Error, CustomStringConvertible, Sendable, Equatable {
    case noLayout
    case conflicting(given: [String])
    case incompleteSizes(missing: [String])
    case rollbackTakesNoLayout(given: [String])

    static let ways = "--for-model NAME (size the NPU heap for a model), --preset NAME (a layout of the board profile) or --npu/--vpu/--vpp MiB (all three)"

    public var description: String {
        switch self {
        case .noLayout:
            return "fix-memory needs the layout you want: give one of \(Self.ways); or --rollback to undo the last change."
        case .conflicting(let given):
            return "\(given.joined(separator: " and ")) each choose a layout, and fix-memory applies one: keep only one of them (\(Self.ways))."
        case .incompleteSizes(let missing):
            return "explicit sizes need all three heaps: add \(missing.joined(separator: " and ")) (in MiB; 0 removes a heap), or use --for-model NAME or --preset NAME instead."
        case .rollbackTakesNoLayout(let given):
            return "--rollback puts back the image the last fix-memory replaced, so it takes no layout: drop \(given.joined(separator: " and ")), or drop --rollback to apply that layout."
        }
    }
}

extension LayoutRequestError: CodedError {
    public var errorCode: String {
        switch self {
        case .noLayout: return "layout_not_named"
        case .conflicting: return "layout_flags_conflict"
        case .incompleteSizes: return "layout_sizes_incomplete"
        case .rollbackTakesNoLayout: return "rollback_takes_no_layout"
        }
    }
}
