/// Every row of bench-compare's table, in its order: which benchmark is ours, which the reference, how each
/// becomes a figure, and the goal. The only list of pairs; the row names are those Docs/Performance.md quotes.
extension BenchmarkPlan {
    public var comparisons: [Comparison] {
        self.aeadComparisons + self.rewrapComparisons + self.storeComparisons + self.keyComparisons
            + self.postgresComparisons + self.tlsComparisons
    }

    /// The envelope against raw AEAD by suite, operation and size; the 64 MiB stream; one 1 KiB record.
    var aeadComparisons: [Comparison] {
        var rows: [Comparison] = []
        for suite in AEADSuiteName.allCases {
            for operation in AEADOperation.allCases {
                for size in Self.messageSizes {
                    let mebibytes = Double(size) / Double(1 << 20)
                    rows.append(
                        Comparison(
                            "envelope \(operation.rawValue) \(Self.sizeLabel(size)) (\(suite.rawValue)) vs "
                                + suite.raw.rawValue,
                            section: .aead,
                            ours: .rate(self.aead(suite, operation, size: size, .envelope), unitsPerItem: mebibytes),
                            reference: .rate(
                                self.aead(suite, operation, size: size, suite.raw), unitsPerItem: mebibytes),
                            unit: "MiB/s",
                            goal: suite == .aes256GCM && size == 1 << 20 ? .atLeast("0.90") : nil))
                }
            }
        }
        let streamMebibytes = Double(Self.streamByteCount) / Double(1 << 20)
        for operation in AEADOperation.allCases {
            rows.append(
                Comparison(
                    "envelope stream \(operation.rawValue) \(Self.sizeLabel(Self.streamByteCount)) (AES-256-GCM) vs raw EVP",
                    section: .aead,
                    ours: .rate(self.stream(operation, .envelope), unitsPerItem: streamMebibytes),
                    reference: .rate(self.stream(operation, .rawEVP), unitsPerItem: streamMebibytes),
                    unit: "MiB/s",
                    goal: .atLeast("0.90")))
        }
        // One 1 KiB record: the time of one envelope seal against one raw seal that, like the envelope, sets up a
        // key and draws a nonce for the record (the keyed-context figure above is the throughput bound).
        rows.append(
            Comparison(
                "envelope seal of one 1 KiB record vs one raw AES-256-GCM seal (key set up, random nonce)",
                section: .aead,
                ours: .microsecondsEach(self.aead(.aes256GCM, .seal, size: 1024, .envelope)),
                reference: .microsecondsEach(self.aeadOneShot),
                unit: "µs",
                goal: .atMost("3")))
        return rows
    }

    /// Rewrap against raw EVP and against the target rate; rotation against its raw floor.
    var rewrapComparisons: [Comparison] {
        let ours = Figure.rate(self.rewrap(.envelope))
        let raw = Figure.rate(self.rewrap(.rawEVP))
        return [
            Comparison(
                "rewrap of one record header (EnvelopeRewrapper, a batch) vs raw EVP unwrap + wrap",
                section: .rewrap, ours: ours, reference: raw, unit: "headers/s"),
            Comparison(
                "rewrap of one record header (Envelope.rewrapHeader, one by one) vs raw EVP unwrap + wrap",
                section: .rewrap, ours: .rate(self.rewrap(.envelope, oneByOne: true)), reference: raw,
                unit: "headers/s"),
            Comparison(
                "rewrap rate on one core (EnvelopeRewrapper) vs the 200 000 headers/s target",
                section: .rewrap, ours: ours, reference: .target(200_000), unit: "headers/s", goal: .atLeast("1")),
            Comparison(
                "rotation of \(grouped(self.rotation.records)) records (\(grouped(self.rotation.patients)) patients) "
                    + "vs raw floor (per key: read, rewrap, write, fsyncs)",
                section: .rewrap, ours: .secondsEach(self.rotation(.keyRotationJob)),
                reference: .secondsEach(self.rotation(.rawFloor)), unit: "s"),
        ]
    }

    /// The re-key of a whole store against its raw floor (goal: at least half the floor's records/s), and a
    /// durable put (synchronous FULL) beside a NORMAL one.
    var storeComparisons: [Comparison] {
        [
            Comparison(
                "re-key of \(grouped(self.rekey.records)) records (\(grouped(self.rekey.patients)) patients, "
                    + "SubjectRekeyJob) vs raw floor (per record: read row, rewrap header on raw EVP, update row)",
                section: .store, ours: .rate(self.rekey(.subjectRekeyJob)), reference: .rate(self.rekey(.rawFloor)),
                unit: "records/s", goal: .atLeast("0.5")),
            Comparison(
                "store put of a 1 KiB record, durable (synchronous FULL) vs synchronous NORMAL",
                section: .store, ours: .rate(self.storePut(.synchronousFull)),
                reference: .rate(self.storePut(.synchronousNormal)), unit: "puts/s"),
        ]
    }

    /// Token custody (with the subject-key cache) against file custody; token calls per record; the key store's
    /// data path over two threads, and the record store's put beside it.
    var keyComparisons: [Comparison] {
        [
            Comparison(
                "key store seal of a 1 KiB record: token custody (SoftHSM2, subject-key cache) vs file custody",
                section: .keys, ours: .rate(self.keySeal(.tokenCustody)), reference: .rate(self.keySeal(.fileCustody)),
                unit: "records/s", goal: .atLeast("0.8")),
            Comparison(
                "token operations per 10 000 records sealed for one subject vs the 10-operation target",
                section: .keys, ours: .metric(self.tokenOperations, Self.tokenOperationsMetric),
                reference: .target(10), unit: "operations", goal: .atMost("1")),
            Comparison(
                "key store seals of a 1 KiB record from 2 threads vs from 1 thread (own subjects, no store-wide lock)",
                section: .keys, ours: .rate(self.concurrentKeySeals(threads: 2)),
                reference: .rate(self.concurrentKeySeals(threads: 1)), unit: "records/s", goal: .atLeast("1.6")),
            // The record store's put adds its SQLite commit, which one writer connection serialises.
            Comparison(
                "store puts of a 1 KiB record from 2 threads vs from 1 thread (own subjects, synchronous NORMAL)",
                section: .keys, ours: .rate(self.concurrentPuts(threads: 2)),
                reference: .rate(self.concurrentPuts(threads: 1)), unit: "puts/s"),
        ]
    }

    /// The PostgreSQL store's put and get of a 1 KiB record against the same bytes upserted and selected with raw
    /// postgres-nio over the same pooled SaMDTLS connections (goal: at least 0.7 of its throughput), with
    /// ``RecordSetShape/tasks`` requests in flight (throughput) and one at a time (latency, time each: no goal);
    /// the SQLite store (`EncryptedRecordStore`, durable commits) beside the PostgreSQL store.
    var postgresComparisons: [Comparison] {
        let tasks = self.recordSet.tasks
        let size = Self.sizeLabel(self.recordSet.recordByteCount)
        var rows: [Comparison] = []
        for operation in RecordOperation.allCases {
            let raw = operation == .put ? "insert" : "select"
            rows.append(
                Comparison(
                    "PostgreSQL store \(operation.rawValue) vs raw postgres-nio \(raw) (\(size), \(tasks) in flight: "
                        + "throughput)",
                    section: .postgres, ours: .rate(self.records(operation, .inFlight, .postgresStore)),
                    reference: .rate(self.records(operation, .inFlight, .rawPostgresNIO)),
                    unit: "\(operation.rawValue)s/s", goal: .atLeast("0.7")))
        }
        for operation in RecordOperation.allCases {
            let raw = operation == .put ? "insert" : "select"
            rows.append(
                Comparison(
                    "PostgreSQL store \(operation.rawValue) vs raw postgres-nio \(raw) (\(size), one at a time: latency)",
                    section: .postgres, ours: .microsecondsEach(self.records(operation, .oneAtATime, .postgresStore)),
                    reference: .microsecondsEach(self.records(operation, .oneAtATime, .rawPostgresNIO)), unit: "µs"))
        }
        for operation in RecordOperation.allCases {
            let durable = operation == .put ? " (durable)" : ""
            rows.append(
                Comparison(
                    "  beside: SQLite store \(operation.rawValue)\(durable) vs PostgreSQL store \(operation.rawValue) "
                        + "(\(tasks) in flight: throughput)",
                    section: .postgres, ours: .rate(self.records(operation, .inFlight, .sqliteStore)),
                    reference: .rate(self.records(operation, .inFlight, .postgresStore)),
                    unit: "\(operation.rawValue)s/s"))
            rows.append(
                Comparison(
                    "  beside: SQLite store \(operation.rawValue)\(durable) vs PostgreSQL store \(operation.rawValue) "
                        + "(one at a time: latency)",
                    section: .postgres, ours: .microsecondsEach(self.records(operation, .oneAtATime, .sqliteStore)),
                    reference: .microsecondsEach(self.records(operation, .oneAtATime, .postgresStore)), unit: "µs"))
        }
        return rows
    }

    /// TLS against swift-nio-ssl and against OpenSSL's own handshake; resumption; bulk; idle memory.
    var tlsComparisons: [Comparison] {
        let ours = Figure.rate(self.tlsHandshakes(.samdkit))
        let nioSSL = Figure.rate(self.tlsHandshakes(.swiftNIOSSL))
        let rawOpenSSL = Figure.rate(self.tlsHandshakes(.rawOpenSSLInMemory))
        let bulkMebibytes = Double(self.bulkBytes >> 20)
        let metric = Self.heapPerIdleConnectionMetric
        return [
            Comparison(
                "TLS 1.3 mTLS full handshakes vs swift-nio-ssl", section: .tls, ours: ours, reference: nioSSL,
                unit: "handshakes/s", goal: .atLeast("1")),
            Comparison(
                "  the floor: OpenSSL's own full handshake (in memory, no sockets) vs swift-nio-ssl (loopback)",
                section: .tls, ours: rawOpenSSL, reference: nioSSL, unit: "handshakes/s"),
            Comparison(
                "  SaMDKit (loopback) vs OpenSSL's own full handshake (in memory, no sockets)", section: .tls,
                ours: ours, reference: rawOpenSSL, unit: "handshakes/s"),
            Comparison(
                "TLS 1.3 mTLS resumed handshakes vs our full ones", section: .tls,
                ours: .rate(self.tlsHandshakes(.samdkit, resumed: true)), reference: ours, unit: "handshakes/s",
                goal: .atLeast("3")),
            Comparison(
                "TLS bulk transfer over loopback (\(self.bulkBytes >> 20) MiB) vs swift-nio-ssl", section: .tls,
                ours: .rate(self.tlsBulk(.samdkit), unitsPerItem: bulkMebibytes),
                reference: .rate(self.tlsBulk(.swiftNIOSSL), unitsPerItem: bulkMebibytes), unit: "MiB/s",
                goal: .atLeast("0.90")),
            Comparison(
                "heap per idle mTLS connection, both ends (\(self.idleConnections) open) vs swift-nio-ssl",
                section: .tls, ours: .metric(self.tlsIdleMemory(.samdkit), metric),
                reference: .metric(self.tlsIdleMemory(.swiftNIOSSL), metric), unit: "bytes", goal: .atMost("1")),
        ]
    }

    /// Every benchmark some row reads, in the rows' order, each once.
    public var comparedBenchmarks: [BenchmarkName] {
        var seen = Set<BenchmarkName>()
        return self.comparisons.flatMap { [$0.ours.benchmark, $0.reference.benchmark] }.compactMap { $0 }
            .filter { seen.insert($0).inserted }
    }
}

/// A decimal number written with its integer digits grouped by three with commas, as Python's `{:,}`
/// writes it: "100000" → "100,000", "-1832.25" → "-1,832.25".
public func thousandsGrouped(_ number: String) -> String {
    let negative = number.hasPrefix("-")
    let unsigned = negative ? number.dropFirst() : Substring(number)
    let parts = unsigned.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
    let digits = Array(parts[0])
    var integer = ""
    for (index, digit) in digits.enumerated() {
        if index > 0, (digits.count - index) % 3 == 0 { integer.append(",") }
        integer.append(digit)
    }
    return (negative ? "-" : "") + integer + (parts.count > 1 ? "." + parts[1] : "")
}

/// 100000 → "100,000".
private func grouped(_ value: Int) -> String {
    thousandsGrouped(String(value))
}
