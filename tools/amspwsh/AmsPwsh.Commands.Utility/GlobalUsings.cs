global using System.Management.Automation.Internal;
global using DriveNotFoundException = System.Management.Automation.DriveNotFoundException;
