import Foundation

/// The bench's figures and their Markdown table (as BENCHMARKS.md quotes it).
struct BenchReport {
    struct Round { var rawRate: Double; var pgbenchRate: Double; var drainRate: Double; var baselineDrainRate: Double; var idleRSSMiB: Double; var peakRSSMiB: Double }
    var jobs: Int
    var batch: Int
    var concurrency: Int
    var rawConnections: Int
    var pgbenchClients: Int
    var singleEnqueueRate = 0.0
    var batchEnqueueRate = 0.0
    var rounds: [Round] = []
    var latencies: [Double] = []

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return .nan }
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    static func percentile(_ values: [Double], _ p: Double) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return .nan }
        return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
    }

    var table: String {
        let ratios = rounds.map { $0.drainRate / $0.rawRate }
        var lines = ["", "| measure | value |", "|---|---|"]
        lines.append(String(format: "| enqueue, one per transaction | %.0f jobs/s |", singleEnqueueRate))
        lines.append(String(format: "| enqueue, batched (5,000 per statement) | %.0f jobs/s |", batchEnqueueRate))
        for (index, round) in rounds.enumerated() {
            lines.append(String(format: "| round %d raw SQL limit (%d conns, batch %d) | %.0f jobs/s |", index + 1, rawConnections, batch, round.rawRate))
            if pgbenchClients > 0 {
                lines.append(String(format: "| round %d pgbench, same statements (%d clients, batch %d) | %.0f jobs/s |", index + 1, pgbenchClients, batch, round.pgbenchRate))
            }
            lines.append(String(format: "| round %d daemon drain (%d slots, batch %d) | %.0f jobs/s (ratio %.2f) |", index + 1, concurrency, batch, round.drainRate, round.drainRate / round.rawRate))
        }
        lines.append(String(format: "| drain / raw SQL limit, median of rounds | %.2f |", BenchReport.median(ratios)))
        if pgbenchClients > 0 {
            lines.append(String(format: "| **drain / pgbench limit, median of rounds** | **%.2f** |", BenchReport.median(rounds.map { $0.drainRate / $0.pgbenchRate })))
        }
        let baselines = rounds.filter { !$0.baselineDrainRate.isNaN }
        if !baselines.isEmpty {
            lines.append(String(format: "| drain / drain with one claim in flight (previous version), median of rounds | %.2f |",
                                BenchReport.median(baselines.map { $0.drainRate / $0.baselineDrainRate })))
        }
        lines.append(String(format: "| idle RSS, started and waiting (max of rounds) | %.0f MiB |", rounds.map(\.idleRSSMiB).max() ?? 0))
        lines.append(String(format: "| peak RSS during drain (max of rounds) | %.0f MiB |", rounds.map(\.peakRSSMiB).max() ?? 0))
        lines.append(String(format: "| latency enqueue→start p50 (%d samples) | %.2f ms |", latencies.count, BenchReport.percentile(latencies, 0.5)))
        lines.append(String(format: "| latency enqueue→start p99 | %.2f ms |", BenchReport.percentile(latencies, 0.99)))
        return lines.joined(separator: "\n")
    }
}
