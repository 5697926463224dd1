// Device catalogue for MEC, D2D and split computing: compute, memory, radio and energy figures of device
// classes from microcontrollers to cloud GPUs. The single source of truth is ns3_scenarios/mec/devices.csv,
// read here by C++ and by Python's ns6g.compute.devices (see docs/mec-compute.md for the figures' sources).
#pragma once

#include "mec/model/processor.h"

#include "ns3/ptr.h"

#include <cstdint>
#include <string>
#include <vector>

namespace ns6g::mec
{

/** One device of the catalogue: a row of devices.csv. */
struct Device
{
    std::string name;       //!< unique key, e.g. "cortex-m4"
    std::string deviceClass; //!< one of DeviceClasses()
    double flops;           //!< peak compute of the whole device, FLOP/s (> 0)
    uint64_t memoryBytes;   //!< working memory (SRAM, RAM or GPU memory) for a model part, bytes (> 0)
    uint64_t storageBytes;  //!< non-volatile storage (flash, eMMC, SSD), bytes
    double txPowerDbm;      //!< maximum radio transmit power, dBm; NaN: no radio (wired node)
    double energyPerFlopJ;  //!< busy energy per FLOP, J (>= 0)
    double idlePowerW;      //!< power while idle, W (>= 0)
    double loadPowerW;      //!< power at full load, W (>= 0); energyPerFlopJ = (load - idle) / flops
    std::string source;     //!< where the figures come from
};

/** The device classes a catalogue row may name. */
const std::vector<std::string>& DeviceClasses();

/** The columns of devices.csv, in order (its header line). */
const std::vector<std::string>& DeviceCatalogueColumns();

/**
 * Reads and validates a catalogue CSV. Throws std::invalid_argument naming the file, line and column of
 * the first problem (wrong header, wrong number of fields, bad or out-of-range number, unknown class,
 * duplicate name), or std::runtime_error if the file cannot be opened. Fields may not hold commas or
 * quotes; tx_power_dbm may be empty (no radio).
 */
std::vector<Device> LoadDeviceCatalogue(const std::string& path);

/** The device called `name`; throws std::invalid_argument listing the valid names if there is none. */
const Device& FindDevice(const std::vector<Device>& catalogue, const std::string& name);

/**
 * Whether a split whose device part needs `deviceMemoryBytes` bytes (weights + activations held at once)
 * fits the device's memory. Throws std::invalid_argument if the size is negative or not finite.
 */
bool SplitFits(const Device& device, double deviceMemoryBytes);

/** "" if the split fits, else a sentence saying why it is infeasible (for environments to report). */
std::string SplitInfeasibility(const Device& device, double deviceMemoryBytes);

/**
 * A Processor with the device's figures: `cores` cores of flops / cores FLOP/s each, the device's
 * EnergyPerFlopJ and IdlePowerW, and the given discipline.
 */
ns3::Ptr<Processor> CreateDeviceProcessor(const Device& device, uint32_t cores = 1,
                                          const std::string& discipline = "fifo");

} // namespace ns6g::mec
