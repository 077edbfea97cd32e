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

@Suite struct IonDebugfsTests {
    @Test func readsTheHeapLineOfASummaryFile() throws {
        let summary = try IonHeapSummary(summary: BoardOutputFixture.text("ion-summary-npu.txt"))
        #expect(summary.heapID == 0 && summary.name == "npu")
        #expect(summary.sizeBytes == 4_141_875_200 && summary.usedBytes == 1_090_519_040 && summary.peakBytes == 2_181_038_080)
    }

    @Test func aSummaryWithoutAHeapLineIsAnError() {
        #expect(throws: BoardOutputError.self) { try IonHeapSummary(summary: "Summary:\n\nDetails:\n") }
        #expect(throws: BoardOutputError.self) { try IonHeapSummary(line: "[0] npu heap size:lots bytes, used:0 bytes") }
    }

    @Test func readsSizeAndUseOfEveryHeapAndTakesTheSummaryWhenAllocMemIsMissing() throws {
        let sections = try BoardProbe.sections(of: BoardOutputFixture.text("probe-root.txt"))
        let reading = try LiveHeapReading(section: sections["ion"] ?? "")
        #expect(reading == .heaps([
            "npu": LiveHeap(totalBytes: 4_141_875_200, usedBytes: 1 << 30),
            "vpu": LiveHeap(totalBytes: 2_147_483_648, usedBytes: 5 << 20),
        ]))
    }

    @Test func statusWordsAndBadLines() throws {
        #expect(try LiveHeapReading(section: "needs-password") == .needsPassword)
        #expect(try LiveHeapReading(section: "unavailable\n") == .unavailable)
        #expect(try LiveHeapReading(section: "npu total=1 used=?\nvpu absent\nvpp absent")
            == .heaps(["npu": LiveHeap(totalBytes: 1, usedBytes: nil)]))
        #expect(throws: BoardOutputError.self) { try LiveHeapReading(section: "npu total=lots used=0\nvpu absent\nvpp absent") }
        #expect(throws: BoardOutputError.self) { try LiveHeapReading(section: "npu total=1 used=2\nvpu absent\nvpp absent") }
        #expect(throws: BoardOutputError.self) { try LiveHeapReading(section: "npu total=1 used=0") }
        #expect(throws: BoardOutputError.self) { try LiveHeapReading(section: "npu 4141875200\nvpu absent\nvpp absent") }
    }

    @Test func deviceMemoryIsTheSumOfNPUVPPAndVPUAsBMSMIShowsIt() {
        let memory = DeviceMemoryUse(["npu": LiveHeap(totalBytes: 100, usedBytes: 90), "vpp": LiveHeap(totalBytes: 50, usedBytes: 20),
                                      "vpu": LiveHeap(totalBytes: 30, usedBytes: 0)])
        #expect(memory?.usedBytes == 110 && memory?.totalBytes == 180 && memory?.heaps == ["npu", "vpp", "vpu"])
        // An absent heap is left out; a heap whose use is unknown makes the sum unknown.
        #expect(DeviceMemoryUse(["npu": LiveHeap(totalBytes: 100, usedBytes: 1)])?.heaps == ["npu"])
        #expect(DeviceMemoryUse(["npu": LiveHeap(totalBytes: 100, usedBytes: nil)]) == nil)
    }
}

@Suite struct SoftwareVersionTests {
    @Test func theInstalledSoCPackageWinsOverARemovedPCIeOne() throws {
        let sections = try BoardProbe.sections(of: BoardOutputFixture.text("probe-linaro-2024.txt"))
        #expect(LibsophonPackage(dpkgQuery: sections["libsophon-package"] ?? "")
            == LibsophonPackage(dpkgQuery: "sophon-soc-libsophon\t0.5.1\tii "))
        #expect(LibsophonPackage(dpkgQuery: sections["libsophon-package"] ?? "")?.version == "0.5.1")
        #expect(LibsophonPackage(dpkgQuery: "sophon-libsophon\t0.4.9\trc ") == nil)
        #expect(LibsophonPackage(dpkgQuery: "") == nil)
    }

    @Test func theInstallDirectoryNamesTheVersionWhenDpkgDoesNot() {
        #expect(LibsophonPackage.version(fromInstallPath: "/opt/sophon/libsophon-0.4.9") == "0.4.9")
        #expect(LibsophonPackage.version(fromInstallPath: "/opt/sophon/libsophon-current") == nil)
        #expect(LibsophonPackage.version(fromInstallPath: "") == nil)
    }

    @Test func theProbeGivesEveryVersion() throws {
        let old = BoardInspector.softwareVersions(try BoardProbe.sections(of: BoardOutputFixture.text("probe-root.txt")))
        #expect(old == SoftwareVersions(libsophon: "0.4.9", libsophonSource: "dpkg sophon-soc-libsophon", driver: "0.4.9",
                                        kernelBuild: "#2 SMP Sat Nov 18 10:07:36 HKT 2023", kernelBuildDate: "2023-11-18"))
        let new = BoardInspector.softwareVersions(try BoardProbe.sections(of: BoardOutputFixture.text("probe-linaro-2024.txt")))
        #expect(new.libsophon == "0.5.1" && new.driver == "0.5.1" && new.kernelBuildDate == "2024-07-17")
    }

    @Test func aMissingLibsophonOrDriverIsAWarningThatSaysWhatToDo() {
        let nothing = SoftwareVersions().missingFactWarnings
        #expect(nothing.count == 2)
        #expect(nothing[0].contains("sophon-soc-libsophon") && nothing[0].contains("Install"))
        #expect(nothing[1].contains("/sys/module/bmtpu/version") && nothing[1].contains("lsmod"))
        #expect(SoftwareVersions(libsophon: "0.5.1", driver: "0.5.1").missingFactWarnings == [])
    }

    @Test func kernelBuildDatesFromUnameV() {
        #expect(KernelBuildDate(kernelVersion: "#2 SMP Sat Nov 18 10:07:36 HKT 2023")?.iso == "2023-11-18")
        #expect(KernelBuildDate(kernelVersion: "#1 SMP PREEMPT Wed Jan 10 09:03:11 CST 2024")?.iso == "2024-01-10")
        #expect(KernelBuildDate(kernelVersion: "#1 SMP") == nil)
        #expect(KernelBuildDate(year: 2023, month: 12, day: 31) < KernelBuildDate(year: 2024, month: 1, day: 10))
    }

    @Test func releaseNumbersCompareByPart() throws {
        #expect(try #require(ReleaseNumber("0.4.9")) < #require(ReleaseNumber("0.5.1")))
        #expect(try #require(ReleaseNumber("0.4.10")) > #require(ReleaseNumber("0.4.9")))
        #expect(try #require(ReleaseNumber("0.5.1-1")) == #require(ReleaseNumber("0.5.1")))
        #expect(ReleaseNumber("unknown") == nil)
    }

    @Test func theChipComesFromTheDeviceTreesCompatibleList() throws {
        let sections = try BoardProbe.sections(of: BoardOutputFixture.text("probe-linaro-2024.txt"))
        #expect(chipName(deviceTreeCompatible: sections["compatible"] ?? "") == "BM1684X")
        #expect(chipName(deviceTreeCompatible: "bitmain,bm1684x\0") == "BM1684X")
        #expect(chipName(deviceTreeCompatible: "linux,dummy-virt") == nil)
    }
}

@Suite struct LLMRuntimeCheckTests {
    @Test func a2023ImageIsOutdatedAndTheWarningNamesFoundNeededAndTheFix() throws {
        let check = LLMRuntimeCheck(SoftwareVersions(libsophon: "0.4.9", driver: "0.4.8", kernelBuildDate: "2023-11-18"))
        #expect(check.verdict == .outdated)
        #expect(check.outdated == ["libsophon 0.4.9 (needs 0.5.1 or newer)", "driver 0.4.8 (needs 0.5.1 or newer)",
                                   "kernel built 2023-11-18 (needs 2024-01-10 or later)"])
        let warning = try #require(check.warning)
        #expect(warning.contains("Upgrade the SoC image") && warning.contains("docs/FAQ.md"))
    }

    @Test func a2024ImageMeetsItAndAMissingFactMakesItUnknownNotOutdated() {
        #expect(LLMRuntimeCheck(SoftwareVersions(libsophon: "0.5.1", driver: "0.5.1", kernelBuildDate: "2024-07-17")).verdict == .met)
        let partial = LLMRuntimeCheck(SoftwareVersions(libsophon: "0.5.1", kernelBuildDate: "2024-07-17"))
        #expect(partial.verdict == .unknown && partial.warning == nil)
        // One old part is enough: a new libsophon on an old kernel is still an old image.
        #expect(LLMRuntimeCheck(SoftwareVersions(libsophon: "0.5.1", driver: "0.5.1", kernelBuildDate: "2024-01-09")).verdict == .outdated)
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

    @Test func shellQuotingSurvivesQuotes() {
        #expect(shellQuoted("it's") == #"'it'\''s'"#)
    }
}
