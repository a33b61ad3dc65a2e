// The text of a resource version: the resource with meta stamped (source, provenance extension)
// and placeholders where the version number and the time of writing go, its content hash, and where
// the placeholders are. The single writer of the record only fills the two placeholders in: the
// serialising and hashing are done beforehand, on the mapping thread (RecordBuilder), so they
// overlap the writes of the batch before.
#pragma once
#include <cstdint>
#include <string>

#include <rapidjson/document.h>

#include "engine/store/record_store.h"

namespace cc::store {

// Stamps `w.resource`'s meta and fills `w.text`. Called again (by the store) when the resource
// changes after it (keep_identifier_systems).
void prepare_text(ResourceWrite& w, const Provenance& p);
// Every write of an item.
void prepare_texts(MappedBatchItem& item);

// The stored JSON of version `version` written at `now_ms`: the prepared text with its placeholders
// filled in; when a placeholder was not found exactly once (a sender wrote the same text into a
// contained resource's meta), the resource is stamped with the real values and serialised again.
std::string version_json(ResourceWrite& w, const Provenance& p, int64_t version, int64_t now_ms);

}  // namespace cc::store
