import Foundation
import Testing

@testable import TPUDeployKit

/// The `multi.its` reader and its check against the FIT image mkimage compiled from it.
@Suite struct ITSSourceTests {
    static func source(_ path: String) throws -> ITSSource {
        try ITSSource(text: String(decoding: BootImageFixture.bytes(path), as: UTF8.self))
    }

    static func fit(_ path: String) throws -> FITImage { try FITImage(bytes: BootImageFixture.bytes(path)) }

    @Test func readsTheRecipesSource() throws {
        let its = try Self.source("fit-16g/multi.its")
        #expect(its.description == "Various kernels, ramdisks and FDT blobs")
        #expect(its.images.map(\.name) == ["kernel-1", "ramdisk-1", "fdt-1", "fdt-2", "fdt-3", "fdt-4", "fdt-5"])
        #expect(its.images.map(\.type) == ["kernel", "ramdisk"] + Array(repeating: "flat_dt", count: 5))
        #expect(its.images.map(\.dataFile) == ["./Image", "./ramdisk.cpio.gz"] + BootImageFixture.familyDTBs.map { "./\($0).dtb" })
        #expect(its.images.map(\.description) == ["bitmain kernel", "bitmain ramdisk"] + BootImageFixture.familyDTBs)
        #expect(its.images.map(\.hashAlgorithms) == [
            ["crc32"], ["sha1"], ["crc32", "sha256"], ["sha256"], ["sha1", "crc32"], ["crc32", "sha256"], ["sha256"],
        ])
        #expect(its.defaultConfiguration == "config-1")
        #expect(its.configurations.count == 5)
        #expect(its.configurations[2] == FITConfiguration(
            name: "config-3", description: BootImageFixture.se7With12GB, kernel: "kernel-1", ramdisk: "ramdisk-1", fdt: "fdt-3"))
    }

    @Test(arguments: [
        ("fit-16g/multi.its", BootImageFixture.fit16GB), ("fit-12g/multi.its", BootImageFixture.fit12GB),
        ("fit-16g/multi.its", "external/data-offset.itb"), ("fit-16g/multi.its", "external/data-position.itb"),
    ])
    func acceptsTheSourceOfItsImage(_ its: String, _ image: String) throws {
        try Self.source(its).check(against: Self.fit(image))
    }

    @Test func acceptsTheSourceAfterADTBWasRewritten() throws {
        let fit = try Self.fit(BootImageFixture.fit16GB)
        var tree = try FlatDeviceTree(bytes: fit.data(of: fit.image(named: "fdt-1")))
        try tree.setReg([AddressRange(start: 0x1_2410_0000, size: 0x1_0000_0000)], at: "/reserved-memory/ion_npu_mem")
        let rewritten = try FITRewriter.replacingDeviceTree(in: fit, image: "fdt-1", with: tree.bytes)
        try Self.source("fit-16g/multi.its").check(against: FITImage(bytes: rewritten))
    }

    /// The .its names files, not contents: the 16g and 12g images share their source text (same dtb names).
    @Test func doesNotCompareDataContents() throws {
        try Self.source("fit-16g/multi.its").check(against: Self.fit(BootImageFixture.fit12GB))
    }

    @Test(arguments: [
        ("its/foreign-dtb.its", BootImageFixture.fit16GB,
         ITSMismatchError.dtbFileDiffers(image: "fdt-5", its: "./bm1684x_airbox_v2.dtb", fit: "bm1684x_airbox_v1.dtb")),
        ("its/other-hash.its", BootImageFixture.fit16GB,
         ITSMismatchError.hashAlgorithmsDiffer(image: "ramdisk-1", its: ["sha256"], fit: ["sha1"])),
        ("its/other-default.its", BootImageFixture.fit16GB,
         ITSMismatchError.defaultConfigurationDiffers(its: "config-2", fit: "config-1")),
        ("its/other-configuration.its", BootImageFixture.fit16GB,
         ITSMismatchError.configurationDiffers(configuration: "config-3", field: "fdt", its: "fdt-1", fit: "fdt-3")),
        ("fit-16g/multi.its", "bad/without-board-dtb.itb", ITSMismatchError.imageMissingFromFIT(image: "fdt-1")),
    ])
    func refusesASourceThatDoesNotBelong(_ its: String, _ image: String, _ expected: ITSMismatchError) throws {
        let error = #expect(throws: expected) { try Self.source(its).check(against: Self.fit(image)) }
        #expect(error?.description.hasPrefix("the .its does not belong to the boot image") == true)
    }

    @Test func namesOtherDifferences() throws {
        let text = String(decoding: try BootImageFixture.bytes("fit-16g/multi.its"), as: UTF8.self)
        let fit = try Self.fit(BootImageFixture.fit16GB)
        func check(_ edited: String) throws { try ITSSource(text: edited).check(against: fit) }

        #expect(throws: ITSMismatchError.imageTypeDiffers(image: "ramdisk-1", its: "kernel", fit: "ramdisk")) {
            try check(text.replacingOccurrences(of: "type = \"ramdisk\";", with: "type = \"kernel\";"))
        }
        #expect(throws: ITSMismatchError.imageDescriptionDiffers(image: "kernel-1", its: "my kernel", fit: "bitmain kernel")) {
            try check(text.replacingOccurrences(of: "\"bitmain kernel\"", with: "\"my kernel\""))
        }
        // fdt-5 left out: the FIT has an image the source does not describe (its configuration is removed too).
        let withoutFDT5 = try Self.removingBlock("fdt-5 {", from: Self.removingBlock("config-5 {", from: text))
        #expect(throws: ITSMismatchError.imageMissingFromITS(image: "fdt-5")) { try check(withoutFDT5) }
        let withoutConfig5 = try Self.removingBlock("config-5 {", from: text)
        #expect(throws: ITSMismatchError.configurationMissingFromITS(configuration: "config-5")) { try check(withoutConfig5) }
        // fdt-1 and fdt-2 swapped.
        let swapped = text.replacingOccurrences(of: "fdt-1 {", with: "fdt-X {").replacingOccurrences(of: "fdt-2 {", with: "fdt-1 {")
            .replacingOccurrences(of: "fdt-X {", with: "fdt-2 {")
        let error = #expect(throws: ITSMismatchError.self) { try check(swapped) }
        guard case .imageOrderDiffers(let its, let built)? = error else {
            Issue.record("expected imageOrderDiffers, got \(String(describing: error))")
            return
        }
        #expect(its[2...3] == ["fdt-2", "fdt-1"] && built[2...3] == ["fdt-1", "fdt-2"])
    }

    // MARK: Reading

    @Test func readsDTCSyntaxBeyondTheRecipe() throws {
        let text = """
            /dts-v1/;
            // a comment
            /memreserve/ 0x0 0x1000;
            / {
            \tdescription = "FIT with \\"quotes\\"\\x21"; /* block
            \t   comment */
            \t#address-cells = <1>;
            \timages {
            \t\tkern: kernel@1 {
            \t\t\tdata = /incbin/("../build/Image", 0, 16);
            \t\t\ttype = "kernel";
            \t\t\tload = <0x280000 (1 + 2)>;
            \t\t\tsig = [01 02 0a];
            \t\t\thash@1 { algo = "crc32"; };
            \t\t};
            \t\tfdt@1 { data = [d0 0d fe ed]; type = "flat_dt"; empty; };
            \t};
            };
            / { configurations { default = "conf@1"; conf@1 { kernel = "kernel@1"; fdt = "fdt@1", "overlay@1"; }; }; };
            """
        let its = try ITSSource(text: text)
        #expect(its.description == "FIT with \"quotes\"!")
        #expect(its.images.map(\.name) == ["kernel@1", "fdt@1"])
        #expect(its.images[0].dataFile == "../build/Image" && its.images[0].hashAlgorithms == ["crc32"])
        #expect(its.images[1].dataFile == nil && its.images[1].hashAlgorithms.isEmpty)
        #expect(its.defaultConfiguration == "conf@1")
        #expect(its.configurations == [FITConfiguration(name: "conf@1", description: nil, kernel: "kernel@1", ramdisk: nil, fdt: "fdt@1")])
    }

    @Test func refusesWhatItCannotRead() throws {
        let truncated = #expect(throws: ITSSyntaxError.self) { try Self.source("its/truncated.its") }
        #expect(truncated?.line == 21)
        #expect(truncated?.reason.contains("ends inside node") == true)
        #expect(truncated?.description.hasPrefix("cannot read multi.its, line 21:") == true)

        for (text, line, fragment) in [
            ("/dts-v1/;\n/include/ \"other.dtsi\"\n/ { images { }; };", 2, "/include/"),
            ("/dts-v1/;\n/ { images { }; };\n&label { x = <1>; };", 3, "node references"),
            ("/dts-v1/;\n/ {\n images { a = \"unterminated; };\n};", 3, "string"),
            ("/dts-v1/;\n/ { configurations { }; };", 2, "no /images node"),
            ("/dts-v1/;\n/ { images { a = <1 2; }; };", 2, "never closed"),
            ("/dts-v1/;\n/ { description = <1>; images { }; };", 2, "not a string"),
            ("/dts-v1/;\n/ { images { fdt-1 { description = <1>; }; }; };", 2, "not a string"),
        ] {
            let error = #expect(throws: ITSSyntaxError.self, "\(text)") { try ITSSource(text: text) }
            #expect(error?.line == line, "\(text): \(String(describing: error))")
            #expect(error?.reason.contains(fragment) == true, "\(text): \(String(describing: error))")
        }
    }

    /// Removes the node block that starts at the line containing `opening` (up to its matching `};`).
    static func removingBlock(_ opening: String, from text: String) throws -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let start = try #require(lines.firstIndex { $0.contains(opening) })
        var depth = 0
        var end = start
        for index in start..<lines.count {
            depth += lines[index].filter { $0 == "{" }.count - lines[index].filter { $0 == "}" }.count
            if depth == 0 { end = index; break }
        }
        lines.removeSubrange(start...end)
        return lines.joined(separator: "\n")
    }
}
