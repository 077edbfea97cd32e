import Foundation

/// Why local boot image files could not be used.
public enum LocalBootImageError: Error, CustomStringConvertible, Sendable, Equatable {
    case unreadable(path: String, reason: String)
    case outputIsInput(path: String)
    case cannotWrite(path: String, reason: String)
    /// The image has no dtb of that name; `available` lists the ones it has.
    case dtbNotInImage(dtb: String, image: String, available: [String])
    /// An image of the FIT fails its hash (or lies outside the file): U-Boot would not boot it.
    case damaged(path: String, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): return "cannot read \(path) (\(reason)): check the path (--image / --its)."
        case .outputIsInput(let path): return "--output would write into the directory of the input \(path); the input is never modified: choose another directory."
        case .cannotWrite(let path, let reason): return "cannot write \(path): \(reason)."
        case .dtbNotInImage(let dtb, let image, let available):
            let list = available.isEmpty ? "none" : available.joined(separator: ", ")
            return "\(image) holds no dtb named \(dtb) (it holds: \(list)); `tpudeploy layout show --image \(image)` shows their layouts."
        case .damaged(let path, let reason):
            return "\(path) is damaged (\(reason)): U-Boot refuses to boot an image whose hashes do not match, so do not install it. Use an intact copy (on a board fix-memory keeps them as /boot/emmcboot.itb.tpudeploy-bak and under /data/tpudeploy/backups)."
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
    /// The .its file's bytes, copied unchanged to the output.
    public let itsBytes: [UInt8]?

    /// Reads the image and, when given, checks that the .its describes it.
    public init(image: String, its: String?) throws {
        imagePath = image
        itsPath = its
        bytes = try Self.read(image)
        fit = try FITImage(bytes: bytes)
        if let its {
            let contents = try Self.read(its)
            try ITSSource(text: String(decoding: contents, as: UTF8.self), fileName: its).check(against: fit)
            itsBytes = contents
        } else {
            itsBytes = nil
        }
    }

    private static func read(_ path: String) throws -> [UInt8] {
        do { return try LocalFile.read(path) } catch let failure as LocalFile.Failure {
            throw LocalBootImageError.unreadable(path: path, reason: failure.reason)
        }
    }

    /// The layout of every board dtb in the image, with what each board allows. An image (kernel, ramdisk or
    /// dtb) whose stored hash does not match its data is an error, as it is to U-Boot (a hash algorithm
    /// tpudeploy does not know is not: the image is only read).
    public func layouts() throws -> LayoutReport {
        if case .damaged(let reason) = try BootImageHealth.check(fit.source) {
            throw LocalBootImageError.damaged(path: imagePath, reason: reason)
        }
        var entries: [LayoutReport.Entry] = []
        for image in fit.images where image.isDeviceTree {
            try verifyHashes(of: image)
            let tree = try FlatDeviceTree(bytes: try fit.data(of: image))
            let layout = try BoardMemoryLayout(deviceTree: tree)
            var entry = LayoutReport.Entry(fdtImage: image.name, dtb: layout.dtbFileName ?? image.description ?? image.name, layout: layout)
            do { entry.limits = try MemoryPlanner.limits(for: layout) } catch { entry.limitsError = "\(error)" }
            entries.append(entry)
        }
        return LayoutReport(image: imagePath, signed: fit.isSigned, dtbs: entries)
    }

    /// Plans the edit for `dtb` and, unless `dryRun`, writes `emmcboot.itb` (and `multi.its`, when one was
    /// given) into `outputDirectory`, which must not be the directory of an input. The input files are never
    /// touched. `BootImageEdit` checks every image's hashes and reads the new file back before it is written.
    public func fix(dtb: String, sizing: LayoutSizing, minimumLinuxMiB: UInt64, outputDirectory: String?, dryRun: Bool) throws -> LocalFixResult {
        let edit: BootImageEdit
        do {
            edit = try BootImageEdit(image: bytes, dtb: dtb, sizing: sizing, minimumLinuxMiB: minimumLinuxMiB)
        } catch FITError.deviceTreeNotFound(let name, let available) {
            throw LocalBootImageError.dtbNotInImage(dtb: name, image: imagePath, available: available)
        }
        var result = LocalFixResult(
            status: dryRun ? .planned : (edit.editedImage == nil ? .unchanged : .written), image: imagePath,
            fdtImage: edit.fdtImage, plan: edit.plan, layout: edit.plan.after)
        guard !dryRun, let outputDirectory else { return result }
        let output = URL(fileURLWithPath: outputDirectory)
        let imageOut = output.appendingPathComponent("emmcboot.itb").standardizedFileURL.path
        let itsOut = output.appendingPathComponent("multi.its").standardizedFileURL.path
        for input in [imagePath, itsPath].compactMap({ $0 }) where Self.sameDirectory(outputDirectory, URL(fileURLWithPath: input).deletingLastPathComponent().path) {
            throw LocalBootImageError.outputIsInput(path: input)
        }
        do {
            try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
            try LocalFile.write(edit.editedImage ?? bytes, to: imageOut)
            if let itsBytes { try LocalFile.write(itsBytes, to: itsOut) }
        } catch let failure as LocalFile.Failure {
            throw LocalBootImageError.cannotWrite(path: failure.path, reason: failure.reason)
        } catch {
            throw LocalBootImageError.cannotWrite(path: outputDirectory, reason: error.localizedDescription)
        }
        result.outputImage = imageOut
        result.outputITS = itsBytes == nil ? nil : itsOut
        return result
    }

    /// The dtb of `profile` the image holds, without `.dtb`/`.dts`: the first of the profile's dtbs found in the
    /// image (or its first one, so that `fix` names it in the error that lists the image's dtbs).
    public func dtb(of profile: BoardProfile) -> String {
        var held: Set<String> = []
        for image in fit.images where image.isDeviceTree {
            guard let tree = try? FlatDeviceTree(bytes: fit.data(of: image)) else { continue }
            if tree.containsNode(at: "/info"), let name = try? tree.string("file-name", at: "/info") { held.insert(DTBName.key(name)) }
            if let description = image.description { held.insert(DTBName.key(description)) }
        }
        let file = profile.dtbFileNames.first { held.contains(DTBName.key($0)) } ?? profile.dtbFileNames[0]
        return DTBName.baseName(file)
    }

    /// Checks an image's stored hashes; an algorithm tpudeploy does not compute is left to U-Boot, except on
    /// the dtb being rewritten (`BootImageEdit` refuses that one, as it cannot write the new hash).
    private func verifyHashes(of image: FITSubimage) throws {
        do { try fit.verifyHashes(of: image) } catch FITError.unsupportedHashAlgorithm {}
    }

    /// Whether two paths name the same directory: the same path once symbolic links are resolved, or the same
    /// file system object. A directory that does not exist yet is no input's.
    static func sameDirectory(_ a: String, _ b: String) -> Bool {
        let resolved = [a, b].map { URL(fileURLWithPath: $0).standardizedFileURL.resolvingSymlinksInPath().path }
        if resolved[0] == resolved[1] { return true }
        var first = stat()
        var second = stat()
        guard stat(a, &first) == 0, stat(b, &second) == 0 else { return false }
        return first.st_dev == second.st_dev && first.st_ino == second.st_ino
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

    /// Spelled so that the JSON key `output_its` decodes back (snake case turns it into `outputIts`).
    enum CodingKeys: String, CodingKey {
        case schema, status, image, fdtImage, plan, layout, outputImage
        case outputITS = "outputIts"
    }
}

extension LocalBootImageError: CodedError {
    public var errorCode: String {
        switch self {
        case .unreadable: return "boot_image_unreadable"
        case .outputIsInput: return "boot_image_output_is_input"
        case .cannotWrite: return "boot_image_unwritable"
        case .dtbNotInImage: return "dtb_not_in_image"
        case .damaged: return "boot_image_damaged"
        }
    }
}
