/// A kind of board (EVB, SE7, SM7, …): which dtbs identify it and what DDR it carries. Read from
/// `Profiles/boards/<name>.yaml`; adding a board is adding a file.
public struct BoardProfile: Sendable, Codable, Equatable {
    /// The name users type: `--board 1684x_evb`.
    public var name: String
    public var description: String
    /// The SoC, as bmodels name it ("BM1684X").
    public var chip: String
    /// Device tree blobs this board boots, as `/proc/device-tree/info/file-name` names them.
    public var dtbFileNames: [String]
    /// DDR sizes the board is sold with: "12g", "16g".
    public var ramSizes: [String]
    /// Linux must keep at least this much DDR after the heaps are carved out.
    public var minimumLinuxMiB: UInt64
    /// Named heap layouts for `fix-memory --preset NAME`, in MiB, placed by memory_edit.sh's rules.
    public var presets: [String: HeapSizes]
    /// The vendor's factory layout, exactly as the board's dts writes it: `--preset factory` restores it.
    public var factoryLayout: ExactHeapLayout?
    /// The vendor files the factory layout comes from.
    public var factoryLayoutSource: String?
    /// How `fix-memory --for-model` sizes the heaps.
    public var modelPolicy: ModelLayoutPolicy
    /// The file this profile was read from, for messages.
    public var sourceFile: String

    static let allowedRAMSizes = ["12g", "16g"]

    init(mapping: YAMLMapping) throws {
        try mapping.onlyKeys(["name", "description", "chip", "dtb_file_names", "ram", "min_linux_mib", "factory", "presets", "for_model"])
        name = try mapping.string("name")
        description = try mapping.string("description")
        chip = try mapping.choice("chip", from: ["BM1684X"])
        dtbFileNames = try mapping.stringList("dtb_file_names")
        if dtbFileNames.isEmpty { throw mapping.invalid("dtb_file_names", "needs at least one dtb file name") }
        for (index, file) in dtbFileNames.enumerated() where !file.hasSuffix(".dtb") && !file.hasSuffix(".dts") {
            throw mapping.invalid("dtb_file_names[\(index)]", "'\(file)' should end in .dtb (or .dts, as 2023 kernels name it)")
        }
        ramSizes = try mapping.stringList("ram")
        for (index, size) in ramSizes.enumerated() where !Self.allowedRAMSizes.contains(size) {
            throw mapping.invalid("ram[\(index)]", "'\(size)' is not one of: \(Self.allowedRAMSizes.joined(separator: ", "))")
        }
        let minimum = try mapping.int("min_linux_mib")
        guard minimum > 0 else { throw mapping.invalid("min_linux_mib", "must be a positive number of MiB") }
        minimumLinuxMiB = UInt64(minimum)
        if let factory = try mapping.optionalMapping("factory") {
            (factoryLayout, factoryLayoutSource) = try FactoryLayoutEntry.read(factory, ramSizes: ramSizes)
        }
        let presetMapping = try mapping.mapping("presets")
        var presets: [String: HeapSizes] = [:]
        for name in presetMapping.keys {
            if name == Self.factoryPreset, factoryLayout != nil {
                throw presetMapping.invalid(name, "the factory layout is given exactly under the top-level `factory` key; remove this preset")
            }
            presets[name] = try HeapSizes(mapping: presetMapping.mapping(name))
        }
        self.presets = presets
        modelPolicy = try ModelLayoutPolicy(mapping: mapping.mapping("for_model"))
        sourceFile = mapping.file
    }

    /// The preset name that restores `factoryLayout`.
    public static let factoryPreset = "factory"

    /// Every preset name `--preset` takes on this board.
    public var presetNames: [String] {
        (Array(presets.keys) + (factoryLayout == nil ? [] : [Self.factoryPreset])).sorted()
    }

    /// The preset `name`, or an error listing the presets this board has.
    public func preset(_ name: String) throws -> HeapSizes {
        guard let sizes = presets[name] else {
            throw ProfileError.unknownPreset(board: self.name, preset: name, known: presetNames, file: sourceFile)
        }
        return sizes
    }

    /// Whether `dtbFileName` is one of this board's dtbs (compared as `DTBName` does: `.dtb`, `.dts` or no
    /// ending; U-Boot's `v2_0` for the kernel's `v2.0`).
    public func boots(dtb dtbFileName: String) -> Bool {
        dtbFileNames.contains { DTBName.same($0, dtbFileName) }
    }
}
