// Placeholder until samd-pki is written.
@main
struct Main {
    static func main() {}
}
