import Testing
@testable import TPUDeployKit

@Suite struct LinuxMemoryTests {
    @Test func readsTotalAvailableAndFreeInBytes() throws {
        let memory = try LinuxMemory(meminfo: BoardOutputFixture.text("meminfo-16g-factory.txt"))
        #expect(memory.totalBytes == 6_573_592 * 1024)
        #expect(memory.availableBytes == 5_842_112 * 1024)
        #expect(memory.freeBytes == 5_120_344 * 1024)
    }

    @Test func missingMemAvailableIsAnErrorNamingTheLine() throws {
        #expect {
            try LinuxMemory(meminfo: BoardOutputFixture.text("meminfo-truncated.txt"))
        } throws: { error in
            "\(error)".contains("MemAvailable")
        }
    }
}

@Suite struct NPUMemoryUsageTests {
    @Test func readsUsedAndTotalOfTheSoCRow() throws {
        let usage = try NPUMemoryUsage(bmSMI: BoardOutputFixture.text("bm-smi-soc.txt"))
        #expect(usage.chip == "1684X-SOC")
        #expect(usage.usedBytes == 1024 << 20)
        #expect(usage.totalBytes == 3950 << 20)
        #expect(usage.sdkVersion == "0.4.9")
    }

    @Test func anErrorMessageFromBMSMIIsReportedNotMisread() throws {
        #expect {
            try NPUMemoryUsage(bmSMI: BoardOutputFixture.text("bm-smi-garbage.txt"))
        } throws: { error in
            "\(error)".contains("bm-smi") && "\(error)".contains("cannot open /dev/bmdev-ctl")
        }
    }

    @Test func usedAboveTotalIsRejected() {
        #expect(throws: BoardOutputError.self) {
            try NPUMemoryUsage(bmSMI: "| 0 1684X-SOC SOC |\n| 9000MB/ 100MB |")
        }
    }
}

@Suite struct FilesystemSpaceTests {
    @Test func readsPortableDFOutput() throws {
        let space = try FilesystemSpace(dfPortable: BoardOutputFixture.text("df-data.txt"), path: "/data")
        #expect(space.totalBytes == 20_511_312 * 1024)
        #expect(space.availableBytes == 19_462_736 * 1024)
        #expect(space.mountPoint == "/data")
    }

    @Test func anErrorFromDFIsReported() {
        #expect(throws: BoardOutputError.self) {
            try FilesystemSpace(dfPortable: "df: /data: No such file or directory", path: "/data")
        }
    }
}

@Suite struct OSReleaseTests {
    @Test func readsThePrettyName() throws {
        let release = try OSRelease(text: BoardOutputFixture.text("os-release-ubuntu2004.txt"))
        #expect(release.prettyName == "Ubuntu 20.04.6 LTS")
        #expect(release.versionID == "20.04")
    }
}

@Suite struct BoardProbeTests {
    @Test func splitsTheScriptOutputIntoSections() throws {
        let sections = try BoardProbe.sections(of: BoardOutputFixture.text("probe-root.txt"))
        #expect(sections["hostname"] == "evb1")
        #expect(sections["dtb"] == "bm1684x_evb_v0.0.dtb")
        #expect(sections["engine"] == "")
        #expect(sections["uname"] == "5.4.217-bm1684-g3d94d8648f81\naarch64")
    }

    @Test func outputThatEndsEarlyIsAnError() throws {
        #expect(throws: BoardOutputError.self) {
            try BoardProbe.sections(of: BoardOutputFixture.text("probe-cut.txt"))
        }
    }

    @Test func readsLiveHeapsWithAnAbsentOne() throws {
        let sections = try BoardProbe.sections(of: BoardOutputFixture.text("probe-root.txt"))
        let reading = try LiveHeapReading(section: sections["ion"] ?? "")
        #expect(reading == .sizes(["npu": 4_141_875_200, "vpu": 2_147_483_648]))
    }

    @Test func liveHeapStatusWords() throws {
        #expect(try LiveHeapReading(section: "needs-password") == .needsPassword)
        #expect(try LiveHeapReading(section: "unavailable\n") == .unavailable)
        #expect(throws: BoardOutputError.self) { try LiveHeapReading(section: "npu lots") }
        #expect(throws: BoardOutputError.self) { try LiveHeapReading(section: "npu 1") }
    }

    @Test func libsophonVersionComesFromTheInstallDirectory() {
        #expect(BoardInspector.libsophonVersion(fromPath: "/opt/sophon/libsophon-0.4.9") == "0.4.9")
        #expect(BoardInspector.libsophonVersion(fromPath: "") == nil)
    }

    @Test func shellQuotingSurvivesQuotes() {
        #expect(shellQuoted("it's") == #"'it'\''s'"#)
    }
}
