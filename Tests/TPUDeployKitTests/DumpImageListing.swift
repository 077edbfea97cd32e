import Foundation

/// What U-Boot's `dumpimage -l` prints for a FIT image, parsed just enough to compare with `FITImage`.
struct DumpImageListing {
    struct Image: Equatable {
        var index: Int
        var name: String
        var description = ""
        var dataSize = -1
        var hashes: [String] = []  // "algo:value"
    }

    struct Configuration: Equatable {
        var name: String
        var kernel = ""
        var ramdisk = ""
        var fdt = ""
    }

    var description = ""
    var images: [Image] = []
    var defaultConfiguration = ""
    var configurations: [Configuration] = []

    init(file: URL) throws {
        var pendingAlgo = ""
        for line in try Tool.output("dumpimage", ["-l", file.path]).split(separator: "\n") {
            let text = line.trimmingCharacters(in: .whitespaces)
            let value = text.split(separator: ":", maxSplits: 1).dropFirst().first?.trimmingCharacters(in: .whitespaces) ?? ""
            if text.hasPrefix("FIT description:") {
                description = value
            } else if text.hasPrefix("Image "), let open = text.firstIndex(of: "("), let index = Int(text.split(separator: " ")[1]) {
                images.append(Image(index: index, name: String(text[text.index(after: open)..<text.index(before: text.endIndex)])))
            } else if text.hasPrefix("Default Configuration:") {
                defaultConfiguration = value.trimmingCharacters(in: CharacterSet(charactersIn: "'"))
            } else if text.hasPrefix("Configuration "), let open = text.firstIndex(of: "(") {
                configurations.append(Configuration(name: String(text[text.index(after: open)..<text.index(before: text.endIndex)])))
            } else if text.hasPrefix("Description:") {
                if configurations.isEmpty { images[images.count - 1].description = value }
            } else if text.hasPrefix("Data Size:") {
                images[images.count - 1].dataSize = Int(value.split(separator: " ")[0]) ?? -1
            } else if text.hasPrefix("Hash algo:") {
                pendingAlgo = value
            } else if text.hasPrefix("Hash value:") {
                images[images.count - 1].hashes.append("\(pendingAlgo):\(value)")
            } else if text.hasPrefix("Kernel:") {
                configurations[configurations.count - 1].kernel = value
            } else if text.hasPrefix("Init Ramdisk:") {
                configurations[configurations.count - 1].ramdisk = value
            } else if text.hasPrefix("FDT:") {
                configurations[configurations.count - 1].fdt = value
            }
        }
    }
}
