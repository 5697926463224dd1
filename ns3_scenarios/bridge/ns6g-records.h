// ns6g bridge: record types of the message channel (typed arrays that Python sees as numpy structured
// arrays) and NS6G_FIELD, which declares one field with its numpy dtype inferred from the member's C++
// type. Part of bridge/ns6g-bridge.h.
#pragma once

#include "ns6g-spaces.h"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

namespace ns6g
{

/** One field of a record type: numpy dtype (e.g. "<u8", "<f8", "S16") at a byte offset. */
struct RecordField
{
    std::string name;
    std::string dtype;
    size_t offset;
};

/**
 * The numpy dtype string of a record member of C++ type T: "<u4", "<f8", ... for numbers (little-endian,
 * as on the only platform we support), "|b1", "|i1", "|u1" for one-byte ones, an enum as its underlying
 * type, "S<N>" for a char[N] text field (NUL-padded) and "(N,)<inner>" for any other array.
 */
template <class T>
std::string
RecordDtype()
{
    if constexpr (std::is_enum_v<T>)
    {
        return RecordDtype<std::underlying_type_t<T>>();
    }
    else if constexpr (std::is_array_v<T>)
    {
        using Element = std::remove_extent_t<T>;
        constexpr size_t n = std::extent_v<T>;
        if constexpr (std::is_same_v<Element, char>)
        {
            return "S" + std::to_string(n);
        }
        else
        {
            return "(" + std::to_string(n) + ",)" + RecordDtype<Element>();
        }
    }
    else
    {
        constexpr Dtype d = DtypeOf<T>(); // a type without a DtypeOf specialisation does not compile
        const char* kinds[] = {"b", "i", "u", "i", "u", "i", "u", "i", "u", "f", "f"};
        const std::string kind = kinds[static_cast<int>(d)];
        const size_t size = DtypeSize(d);
        return (size == 1 ? "|" : "<") + kind + std::to_string(size);
    }
}

/**
 * The RecordField of `member` of the record struct `Struct`, named `name` on the Python side, its dtype
 * inferred from the member's type: NS6G_FIELD(Transfer, bytes, "bytes"). The one way to declare a field.
 */
#define NS6G_FIELD(Struct, member, name)                                                                  \
    ::ns6g::RecordField                                                                                   \
    {                                                                                                     \
        name, ::ns6g::RecordDtype<decltype(Struct::member)>(), offsetof(Struct, member)                   \
    }

/**
 * A record type for the message channel: a C++ struct of plain fields, described so that Python
 * builds the matching numpy structured dtype. Example:
 *   struct Transfer { uint64_t id; uint32_t src, dst; uint64_t bytes; };
 *   RecordType{"transfer", sizeof(Transfer), {NS6G_FIELD(Transfer, id, "id"), ...}}
 */
struct RecordType
{
    std::string name;
    size_t itemSize;
    std::vector<RecordField> fields;
};

/** A message: an array of `count` records of one declared type. */
struct Message
{
    std::string type;
    size_t count{0};
    std::vector<uint8_t> bytes; // count * itemSize

    template <class T>
    const T* Records() const
    {
        return reinterpret_cast<const T*>(bytes.data());
    }

    template <class T>
    static Message From(const std::string& type, const std::vector<T>& records)
    {
        Message m;
        m.type = type;
        m.count = records.size();
        m.bytes.resize(records.size() * sizeof(T));
        if (!records.empty())
        {
            std::memcpy(m.bytes.data(), records.data(), m.bytes.size());
        }
        return m;
    }
};

} // namespace ns6g
