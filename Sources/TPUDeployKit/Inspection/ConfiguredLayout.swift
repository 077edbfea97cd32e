/// The memory layout a board will boot with next: its dtb's layout, read from the FIT boot image in /boot.
struct ConfiguredLayout: Sendable {
    var fdtImage: String
    var imageSize: UInt64
    var layout: BoardMemoryLayout

    /// Finds the board's dtb (by its `/info/file-name`) in the FIT image behind `source` and reads its layout.
    init(source: any RandomAccessBytes, dtb: String) throws {
        let fit = try FITImage(source: source)
        let (image, tree) = try fit.deviceTreeImage(forDTB: dtb)
        fdtImage = image.name
        imageSize = UInt64(fit.fileSize)
        layout = try BoardMemoryLayout(deviceTree: tree)
    }
}

extension BoardMemoryLayout {
    /// The banks as the inspect report shows them.
    var bankSummaries: [DDRBankSummary] {
        banks.map { DDRBankSummary(id: $0.id, name: $0.name, start: $0.start, sizeBytes: $0.size) }
    }
}
