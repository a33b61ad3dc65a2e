// RapidJSON's settings for the whole project, included before every source file (CMakeLists.txt:
// -include) so that each use of RapidJSON sees the same ones.
//
// A rapidjson::Document's own memory pool takes 64 KiB from malloc at its first allocation, whatever
// the size of the document. The record builder keeps tens of thousands of small documents alive at
// once (a chunk of an extract file: a few resources a row, each a document of one or two KiB), and
// each 64 KiB block touched in a different place spread them over gigabytes of fresh pages: 5.8 GiB
// resident for a 200,000-row file, and much of the builder's time spent faulting in zeroed pages.
// RAPIDJSON_NEW is RapidJSON's hook for how it makes its allocators: here a pool grows by 4 KiB at
// a time (a large document simply takes more blocks, or one block of its own size for a long string).
#pragma once
#include <cstddef>
#include <type_traits>

namespace rapidjson {
class CrtAllocator;
template <typename BaseAllocator>
class MemoryPoolAllocator;
}  // namespace rapidjson

namespace cc::json_config {
inline constexpr std::size_t kPoolChunkBytes = 4096;

template <class T>
struct IsPool : std::false_type {};
template <class Base>
struct IsPool<rapidjson::MemoryPoolAllocator<Base>> : std::true_type {};

template <class T>
T* make_allocator() {
  if constexpr (IsPool<T>::value) return new T(kPoolChunkBytes);
  else return new T();
}
}  // namespace cc::json_config

// RapidJSON writes RAPIDJSON_NEW(Allocator()) for each allocator it makes for itself.
#define RAPIDJSON_NEW(x) ::cc::json_config::make_allocator<decltype(x)>()
