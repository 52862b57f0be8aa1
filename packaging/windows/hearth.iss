; Inno Setup script for Hearth on Windows (x64). Not run on the machine this was written on:
; built by .github/workflows/installers.yml on a windows-latest runner, see packaging/README.md.
;
; Input: dist\hearth\ from `pyinstaller packaging\hearth.spec` (one folder: hearth.exe and
; _internal\ with Python, Qt, torch, llama.cpp and both models). Output: dist\hearth-VERSION-setup.exe.
; Build: iscc /DAppVersion=0.1.0 packaging\windows\hearth.iss   (from the checkout's root)
;
; Per-user install by default (no administrator rights needed), into %LOCALAPPDATA%\Programs.
; Uninstalling removes the program only: conversations, memories and adapters in
; %LOCALAPPDATA%\Hearth and %APPDATA%\Hearth stay unless the user ticks the box that removes them.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#define SourceDir "..\..\dist\hearth"

[Setup]
AppId={{6F1C2A0E-8B7D-4C9A-9E1F-3A5B7C9D2E4F}
AppName=Hearth
AppVersion={#AppVersion}
AppPublisher=Hearth developers
AppComments=A personal AI assistant that lives on your computer and works offline
DefaultDirName={autopf}\Hearth
DefaultGroupName=Hearth
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename=hearth-{#AppVersion}-setup
SetupIconFile=hearth.ico
UninstallDisplayIcon={app}\hearth.exe
Compression=lzma2/max
SolidCompression=yes
LZMAUseSeparateProcess=yes
WizardStyle=modern

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\Hearth"; Filename: "{app}\hearth.exe"; Comment: "Your personal assistant"
Name: "{group}\Uninstall Hearth"; Filename: "{uninstallexe}"
Name: "{autodesktop}\Hearth"; Filename: "{app}\hearth.exe"; Tasks: desktopicon

[Run]
; The installer checks its own work offline before offering to start the app.
Filename: "{app}\hearth.exe"; Parameters: "--self-test"; StatusMsg: "Checking the installation..."; Flags: runhidden waituntilterminated
Filename: "{app}\hearth.exe"; Description: "{cm:LaunchProgram,Hearth}"; Flags: nowait postinstall skipifsilent

[UninstallDelete]
; Files the app itself may leave in its own folder (never the user's data, which lives elsewhere).
Type: filesandordirs; Name: "{app}\_internal\__pycache__"

[Code]
var
  RemoveData: Boolean;

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
begin
  if CurUninstallStep = usUninstall then
    RemoveData := MsgBox('Also delete your conversations, memories and adapters?' + #13#10 +
      '(Choose No to keep them for a later install.)', mbConfirmation, MB_YESNO or MB_DEFBUTTON2) = IDYES;
  if (CurUninstallStep = usPostUninstall) and RemoveData then
  begin
    DelTree(ExpandConstant('{localappdata}\Hearth'), True, True, True);
    DelTree(ExpandConstant('{userappdata}\Hearth'), True, True, True);
  end;
end;
