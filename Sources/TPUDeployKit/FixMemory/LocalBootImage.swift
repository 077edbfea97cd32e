import Foundation

/// Why local boot image files could not be used.
public enum LocalBootImageError: Error, CustomStringConvertible, Sendable, Equatable {
    case unreadable(path: String)
    case outputIsInput(path: String)
    case cannotWrite(path: String, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let path): return "cannot read \(path): check the path (--image / --its)."
        case .outputIsInput(let path): return "--output would overwrite the input \(path); the input is never modified: choose another directory."
        case .cannotWrite(let path, let reason): return "cannot write \(path): \(reason)."
        }
    }
}

/// A boot image (`emmcboot.itb`, optionally with its `multi.its`) on the local disk: the vendor's offline
/// workflow, for images prepared on a PC for many boards or for boards flashed over serial or USB.
public struct LocalBootImage: Sendable {
    public let imagePath: String
    public let itsPath: String?
    public let bytes: [UInt8]
    public let fit: FITImage
    public let itsText: String?

    /// Reads the image and, when given, checks that the .its describes it.
    public init(image: String, its: String?) throws {
        guard let contents = try? LocalFile.read(image) else { throw LocalBootImageError.unreadable(path: image) }
        imagePath = image
        itsPath = its
        bytes = contents
        fit = try FITImage(bytes: bytes)
        if let its {
            guard let itsData = FileManager.default.contents(atPath: its) else { throw LocalBootImageError.unreadable(path: its) }
            let text = String(decoding: itsData, as: UTF8.self)
            try ITSSource(text: text, fileName: its).check(against: fit)
            itsText = text
        } else {
            itsText = nil
        }
    }

    /// The layout of every board dtb in the image, with what each board allows.
    public func layouts() throws -> LayoutReport {
        var entries: [LayoutReport.Entry] = []
        for image in fit.images where image.isDeviceTree {
            let tree = try FlatDeviceTree(bytes: try fit.data(of: image))
            let layout = try BoardMemoryLayout(deviceTree: tree)
            var entry = LayoutReport.Entry(fdtImage: image.name, dtb: layout.dtbFileName ?? image.description ?? image.name, layout: layout)
            do { entry.limits = try MemoryPlanner.limits(for: layout) } catch { entry.limitsError = "\(error)" }
            entries.append(entry)
        }
        return LayoutReport(image: imagePath, signed: fit.isSigned, dtbs: entries)
    }

    /// Plans the edit for `dtb` and, unless `dryRun`, writes `emmcboot.itb` (and `multi.its`, when one was
    /// given) into `outputDirectory`. The input files are never touched.
    public func fix(dtb: String, sizing: LayoutSizing, minimumLinuxMiB: UInt64, outputDirectory: String?, dryRun: Bool) throws -> LocalFixResult {
        let edit = try BootImageEdit(image: bytes, dtb: dtb, sizing: sizing, minimumLinuxMiB: minimumLinuxMiB)
        var result = LocalFixResult(
            status: dryRun ? .planned : (edit.editedImage == nil ? .unchanged : .written), image: imagePath,
            fdtImage: edit.fdtImage, plan: edit.plan, layout: edit.plan.after)
        guard !dryRun, let outputDirectory else { return result }
        let output = URL(fileURLWithPath: outputDirectory)
        let imageOut = output.appendingPathComponent("emmcboot.itb").standardizedFileURL.path
        let itsOut = output.appendingPathComponent("multi.its").standardizedFileURL.path
        for input in [imagePath, itsPath].compactMap({ $0 }) where URL(fileURLWithPath: input).standardizedFileURL.path == imageOut || URL(fileURLWithPath: input).standardizedFileURL.path == itsOut {
            throw LocalBootImageError.outputIsInput(path: input)
        }
        do {
            try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
            try LocalFile.write(edit.editedImage ?? bytes, to: imageOut)
            if let itsText { try itsText.write(toFile: itsOut, atomically: true, encoding: .utf8) }
        } catch {
            throw LocalBootImageError.cannotWrite(path: outputDirectory, reason: error.localizedDescription)
        }
        result.outputImage = imageOut
        result.outputITS = itsText == nil ? nil : itsOut
        return result
    }
}

/// `tpudeploy layout show --json` (schema `tpudeploy.layout/1`).
public struct LayoutReport: Sendable, Codable, Equatable {
    public struct Entry: Sendable, Codable, Equatable {
        public var fdtImage: String
        public var dtb: String
        public var layout: BoardMemoryLayout
        public var limits: LayoutLimits?
        /// Why the maxima could not be computed (a dtb whose layout the vendor tool would refuse too).
        public var limitsError: String?
    }

    public var schema = "tpudeploy.layout/1"
    public var image: String
    public var signed: Bool
    public var dtbs: [Entry]
}

/// `tpudeploy fix-memory --image … --json` (schema `tpudeploy.fix-memory-image/1`).
public struct LocalFixResult: Sendable, Codable, Equatable {
    public enum Status: String, Sendable, Codable { case planned, written, unchanged }
    public var schema = "tpudeploy.fix-memory-image/1"
    public var status: Status
    public var image: String
    public var fdtImage: String
    public var plan: MemoryPlan
    /// The resulting layout: every region's start and size, and the heaps present.
    public var layout: BoardMemoryLayout
    public var outputImage: String?
    public var outputITS: String?
}
