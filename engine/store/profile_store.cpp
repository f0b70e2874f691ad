#include "profile_store.h"

#include "cost/perf_tables.h"

namespace shard {

namespace {

constexpr const char* kColumns = "id, created_at, gpu_kind, gpu_name, devices, driver, cuda, nccl, engine_version, "
                                 "quick, host_model, notes";

MachineProfile read_row(const Statement& s)
{
    MachineProfile p;
    p.id = s.int64(0);
    p.created_at = s.text(1);
    p.gpu_kind = s.text(2);
    p.gpu_name = s.text(3);
    p.devices = int(s.int64(4));
    p.driver = s.text(5);
    p.cuda = s.text(6);
    p.nccl = s.text(7);
    p.engine_version = s.text(8);
    p.quick = s.int64(9) != 0;
    p.host_model = s.int64(10) != 0;
    const std::string notes = s.text(11);
    for (std::size_t start = 0; start < notes.size();) {
        const std::size_t end = std::min(notes.find('\n', start), notes.size());
        p.notes.push_back(notes.substr(start, end - start));
        start = end + 1;
    }
    return p;
}

void read_tables(RunStore& store, MachineProfile& profile)
{
    Statement s = store.db().prepare("SELECT family, csv FROM profile_tables WHERE profile_id = ?");
    s.bind(1, profile.id);
    while (s.step())
        profile.tables[s.text(0)] = s.text(1);
}

} // namespace

std::int64_t add_profile(RunStore& store, const MachineProfile& profile)
{
    if (profile.devices < 1)
        throw StoreError("a profile needs the number of GPUs it measured, got " + std::to_string(profile.devices));
    if (profile.created_at.size() < 10)
        throw StoreError("a profile needs the date it was measured, got '" + profile.created_at + "'");
    (void)parse_perf_tables(profile.tables, "the profile's table"); // refuses a malformed one
    std::string notes;
    for (const auto& note : profile.notes)
        notes += (notes.empty() ? "" : "\n") + note;
    Transaction tx(store.db());
    Statement insert = store.db().prepare(
        "INSERT INTO machine_profiles (created_at, gpu_kind, gpu_name, devices, driver, cuda, nccl, engine_version, "
        "host, quick, host_model, notes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    insert.bind(1, profile.created_at)
        .bind(2, profile.gpu_kind)
        .bind(3, profile.gpu_name)
        .bind(4, std::int64_t(profile.devices))
        .bind(5, profile.driver)
        .bind(6, profile.cuda)
        .bind(7, profile.nccl)
        .bind(8, profile.engine_version)
        .bind(9, host_name())
        .bind(10, std::int64_t(profile.quick))
        .bind(11, std::int64_t(profile.host_model))
        .bind(12, notes);
    insert.step();
    const std::int64_t id = store.db().last_insert_id();
    Statement table = store.db().prepare("INSERT INTO profile_tables (profile_id, family, csv) VALUES (?, ?, ?)");
    for (const auto& [family, csv] : profile.tables) {
        table.reset();
        table.bind(1, id).bind(2, family).bind(3, csv);
        table.step();
    }
    tx.commit();
    return id;
}

std::vector<MachineProfile> list_profiles(RunStore& store)
{
    std::vector<MachineProfile> profiles;
    Statement s = store.db().prepare(std::string("SELECT ") + kColumns
                                     + " FROM machine_profiles ORDER BY created_at DESC, id DESC");
    while (s.step())
        profiles.push_back(read_row(s));
    return profiles;
}

std::optional<MachineProfile> get_profile(RunStore& store, std::int64_t id)
{
    Statement s = store.db().prepare(std::string("SELECT ") + kColumns + " FROM machine_profiles WHERE id = ?");
    s.bind(1, id);
    if (!s.step())
        return std::nullopt;
    MachineProfile profile = read_row(s);
    read_tables(store, profile);
    return profile;
}

std::optional<MachineProfile> latest_profile(RunStore& store, const std::string& gpu_kind)
{
    Statement s = store.db().prepare(std::string("SELECT ") + kColumns
                                     + " FROM machine_profiles WHERE gpu_kind = ? AND host_model = 0 "
                                       "ORDER BY created_at DESC, id DESC LIMIT 1");
    s.bind(1, gpu_kind);
    if (!s.step())
        return std::nullopt;
    MachineProfile profile = read_row(s);
    read_tables(store, profile);
    return profile;
}

bool remove_profile(RunStore& store, std::int64_t id)
{
    Statement s = store.db().prepare("DELETE FROM machine_profiles WHERE id = ?");
    s.bind(1, id);
    s.step();
    return sqlite3_changes(store.db().handle()) > 0;
}

} // namespace shard
