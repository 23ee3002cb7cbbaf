// SPDX-License-Identifier: MIT
// TestToken is a plain OpenZeppelin ERC-20 for walletmcp's tests: name, symbol
// and decimals chosen by the deployer, the whole supply minted to the deployer.
// Compiled by scripts/gen-erc20.sh; see testdata/README.md.
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

contract TestToken is ERC20 {
    uint8 private immutable _decimals;

    constructor(string memory name_, string memory symbol_, uint8 decimals_, uint256 supply)
        ERC20(name_, symbol_)
    {
        _decimals = decimals_;
        _mint(msg.sender, supply);
    }

    function decimals() public view override returns (uint8) {
        return _decimals;
    }
}
